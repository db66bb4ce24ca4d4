import { BSON, MongoClient, type ClientSession, type Collection, type CollectionOptions, type Db, type DbOptions, type Document, type TransactionOptions } from 'mongodb';
import { PayloadTooLargeError, VersionConflictError } from '../../errors.js';
import type {
  BlobStore,
  FindQuery,
  HistoryQuery,
  KeyValueStore,
  StoreEngine,
  VersionRecord,
  WriteOp,
} from '../engine.js';
import { GridFsBlobStore } from './mongo-blobs.js';
import { createMongoKv, isDuplicateKey, type KvDoc } from './mongo-kv.js';
import { sortPlan } from './mongo-sort.js';
import { unavailableAs503 } from './mongo-unavailable.js';

export interface MongoEngineOptions {
  url: string;
  dbName: string;
  /** A client the caller owns: used as is and never closed here. */
  client?: MongoClient;
  /** Clock for key-value expiry. */
  now?: () => number;
}

type ResourceDoc = VersionRecord & { _id: string };

/**
 * Lookups the search layer issues on most requests; each gets an index
 * (prefixed with type, so the multikey field is the only array one): the
 * access policy's on every professional's request (regular doctor, Consent
 * actors, CareTeam members), and the usual searches (codes with or without a
 * system, names by prefix, which an anchored `$regex` walks as a range, tags).
 */
const HOT_INDEX_FIELDS = [
  'idx.patient.r',
  'idx.subject.r',
  'idx.general-practitioner.r',
  'idx.actor.r',
  'idx.participant.r',
  'idx.code.sc',
  'idx.code.c',
  'idx.identifier.sc',
  'idx.identifier.c',
  'idx.status.c',
  'idx.type.sc',
  'idx.category.sc',
  'idx.category.c',
  'idx.name.f',
  'idx.family.f',
  'idx.given.f',
  'idx._tag.sc',
];

/**
 * The longest a query may run on the server: a search that would scan for
 * longer is stopped and answered 503 (mongo-unavailable.ts), rather than
 * holding a connection and the database's time for as long as it takes.
 */
const QUERY_TIME_LIMIT_MS = 30_000;

/** MongoDB's answer to a command it does not know. */
const COMMAND_NOT_FOUND = 59;

/** MongoDB refuses a document over 16 MiB; the current version and its history copy are one each. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * An undefined field is left out, as the embedded engine leaves it out, instead
 * of being stored as null (the driver's default), which `$exists` would see.
 * In a filter too, an undefined condition is dropped: no filter built here
 * carries one.
 */
const COLLECTION_OPTIONS: CollectionOptions = { ignoreUndefined: true };

/**
 * A write is acknowledged once a majority of the replica set has it in its
 * on-disk journal, whatever MONGODB_URL says (`w=1` included): a 201 must
 * survive the primary's loss, as it survives a crash of the embedded engine.
 * These database-level settings cover single-document writes (key-value
 * store, GridFS); transactions take theirs from TRANSACTION_OPTIONS.
 */
const WRITE_CONCERN = { w: 'majority', journal: true, wtimeoutMS: 10_000 } as const;
/** With no majority to acknowledge, a write fails after 10 s rather than waiting forever (and its request with it). */
const DB_OPTIONS: DbOptions = { writeConcern: WRITE_CONCERN, readPreference: 'primary' };
const TRANSACTION_OPTIONS: TransactionOptions = { writeConcern: WRITE_CONCERN, readPreference: 'primary' };

/**
 * MongoDB engine: a thin layer over the driver. `resources` holds current
 * versions (tombstones included), `history` every version, `kv` small shared
 * state with a TTL index, and a GridFS bucket the blobs. Search filters come
 * from store/filter.ts and run natively.
 */
export function createMongoEngine(options: MongoEngineOptions): StoreEngine {
  return unavailableAs503<StoreEngine>(new MongoEngine(options));
}

class MongoEngine implements StoreEngine {
  readonly kind = 'mongodb' as const;
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly resources: Collection<ResourceDoc>;
  private readonly versions: Collection<ResourceDoc>;
  readonly kv: KeyValueStore;
  readonly blobs: BlobStore;

  constructor(options: MongoEngineOptions) {
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new MongoClient(options.url);
    this.db = this.client.db(options.dbName, DB_OPTIONS);
    this.resources = this.db.collection<ResourceDoc>('resources', COLLECTION_OPTIONS);
    this.versions = this.db.collection<ResourceDoc>('history', COLLECTION_OPTIONS);
    this.kv = createMongoKv(this.db.collection<KvDoc>('kv', COLLECTION_OPTIONS), options.now ?? Date.now);
    this.blobs = new GridFsBlobStore(this.db);
  }

  async open(): Promise<void> {
    await this.client.connect();
    await this.requireTransactions();
    await this.resources.createIndexes([
      { key: { type: 1, id: 1 }, unique: true },
      { key: { comp: 1 } },
      { key: { type: 1, ts: -1 } },
      ...HOT_INDEX_FIELDS.map((field) => ({ key: { type: 1, [field]: 1 } })),
    ]);
    await this.versions.createIndexes([
      { key: { type: 1, id: 1, vid: 1 }, unique: true },
      { key: { type: 1, id: 1, hk: -1 } },
      { key: { hk: -1 }, unique: true },
      { key: { type: 1, hk: -1 } },
    ]);
    await this.db.collection<KvDoc>('kv').createIndexes([
      { key: { expiresAt: 1 }, expireAfterSeconds: 0 },
      { key: { ns: 1 } },
    ]);
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  /**
   * Every commit is a transaction, which a standalone server refuses: better
   * to refuse to start, saying why, than to answer every write with a 500.
   */
  private async requireTransactions(): Promise<void> {
    const admin = this.db.admin();
    // `hello` came with 4.2.10 and 4.4.2; earlier servers answer the same fields to `isMaster`.
    const hello = await admin.command({ hello: 1 }).catch((err: unknown) => {
      if ((err as { code?: unknown }).code === COMMAND_NOT_FOUND) return admin.command({ isMaster: 1 });
      throw err;
    });
    if (typeof hello.setName === 'string' || hello.msg === 'isdbgrid') return;
    throw new Error(hello.isreplicaset === true
      ? 'MongoDB at MONGODB_URL was started as a replica set member but the set was never initiated: run rs.initiate() once'
      : 'MongoDB at MONGODB_URL is a standalone server; carnet writes in transactions, which need a replica set (one node is enough)');
  }

  async isReady(): Promise<boolean> {
    try {
      await this.db.command({ ping: 1 });
      return true;
    } catch {
      return false;
    }
  }

  async current(type: string, id: string): Promise<VersionRecord | undefined> {
    return (await this.resources.findOne({ _id: keyOf(type, id) }, { projection: { _id: 0 } })) ?? undefined;
  }

  async version(type: string, id: string, vid: number): Promise<VersionRecord | undefined> {
    return (await this.versions.findOne({ _id: `${keyOf(type, id)}/${vid}` }, { projection: { _id: 0 } })) ?? undefined;
  }

  /** One transaction per commit, even of one write: a version and its history copy are stored together or not at all. */
  async commit(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    for (const { record } of ops) checkSize(record);
    const session = this.client.startSession();
    try {
      await session.withTransaction(async () => {
        for (const op of ops) await this.write(op, session);
      }, TRANSACTION_OPTIONS);
    } finally {
      await session.endSession();
    }
  }

  /**
   * One version, checked by the database itself so that two replicas cannot
   * both win: the current document is inserted only when absent, or replaced
   * only while it still holds `expectVid`; then its history copy, in the same
   * transaction.
   */
  private async write({ record, expectVid }: WriteOp, session: ClientSession): Promise<void> {
    const key = keyOf(record.type, record.id);
    let won: boolean;
    try {
      if (expectVid === 0) {
        await this.resources.insertOne({ ...record, _id: key }, { session });
        won = true;
      } else {
        const res = await this.resources.replaceOne({ _id: key, vid: expectVid }, record, { session });
        won = res.matchedCount === 1;
      }
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      won = false;
    }
    if (!won) {
      throw new VersionConflictError(expectVid === 0 ? `${key} already exists` : `${key} is no longer at version ${expectVid}`);
    }
    const historyId = `${key}/${record.vid}`;
    await this.versions.replaceOne({ _id: historyId }, record, { session, upsert: true });
  }

  async find(query: FindQuery): Promise<VersionRecord[]> {
    if (query.limit <= 0) return [];
    const match = matchOf(query);
    const plan = sortPlan(query.sort, query.reverse === true);
    if (!plan.flags) {
      return this.resources.find(match, { projection: { _id: 0 }, sort: plan.order, limit: query.limit, maxTimeMS: QUERY_TIME_LIMIT_MS }).toArray();
    }
    return this.resources
      .aggregate<VersionRecord>(
        [{ $match: match }, { $addFields: plan.flags }, { $sort: plan.order }, { $limit: query.limit }, { $unset: ['_id', ...plan.flagFields] }],
        { maxTimeMS: QUERY_TIME_LIMIT_MS },
      )
      .toArray();
  }

  async count(query: Omit<FindQuery, 'sort' | 'limit'>): Promise<number> {
    return this.resources.countDocuments(matchOf(query), { maxTimeMS: QUERY_TIME_LIMIT_MS });
  }

  async history(query: HistoryQuery): Promise<VersionRecord[]> {
    if (query.limit <= 0) return [];
    return this.versions.find(historyFilter(query), { projection: { _id: 0 }, sort: { hk: -1 }, limit: query.limit, maxTimeMS: QUERY_TIME_LIMIT_MS }).toArray();
  }
}

/**
 * The history query as a filter. `_since` and `_at` bound `hk` as well as
 * `ts`: a history key begins with its version's lastUpdated (the ISO form of
 * `ts`), so the walk down the `hk` index starts and stops at the period's
 * ends instead of reading every version stored to find a few recent ones.
 */
export function historyFilter(query: Omit<HistoryQuery, 'limit'>): Document {
  const filter: Document = {};
  if (query.type !== undefined) filter.type = query.type;
  if (query.id !== undefined) filter.id = query.id;
  let below = query.afterKey;
  // Only four-digit years sort as text (year 10000 is written `+010000-...`): beyond them, `ts` alone bounds.
  const isoKey = (ms: number) => {
    const text = new Date(ms).toISOString();
    return /^\d{4}-/.test(text) ? text : undefined;
  };
  if (query.at !== undefined) {
    // Every version written at `at` or before has a key below the next millisecond's ISO text.
    const atKey = isoKey(query.at + 1);
    if (atKey !== undefined && (below === undefined || atKey < below)) below = atKey;
  }
  const hk: Document = {};
  if (below !== undefined) hk.$lt = below;
  const sinceKey = query.since === undefined ? undefined : isoKey(query.since);
  if (sinceKey !== undefined) hk.$gte = sinceKey;
  if (Object.keys(hk).length) filter.hk = hk;
  if (query.since !== undefined || query.at !== undefined) {
    filter.ts = {
      ...(query.since !== undefined ? { $gte: query.since } : {}),
      ...(query.at !== undefined ? { $lte: query.at } : {}),
    };
  }
  return filter;
}

/** 413 rather than the server's refusal (a 500): a resource this large only fits the embedded engine. */
function checkSize(record: VersionRecord): void {
  const bytes = BSON.calculateObjectSize(record, { ignoreUndefined: true });
  if (bytes > MAX_DOCUMENT_BYTES - 1024) {
    throw new PayloadTooLargeError(`${record.type}/${record.id} would take ${bytes} bytes in MongoDB, whose documents are limited to 16 MiB`);
  }
}

function keyOf(type: string, id: string): string {
  return `${type}/${id}`;
}

function matchOf(query: Omit<FindQuery, 'sort' | 'limit'>): Document {
  const base: Document = { deleted: false };
  if (query.types.length === 1) base.type = query.types[0];
  else if (query.types.length > 1) base.type = { $in: query.types };
  return Object.keys(query.filter).length === 0 ? base : { $and: [base, query.filter] };
}

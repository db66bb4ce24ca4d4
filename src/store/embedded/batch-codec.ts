import type { VersionRecord } from '../engine.js';

/** A key-value mutation; `v` is the value as JSON text. */
export type KvOp =
  | { op: 'put'; ns: string; key: string; v: string; exp?: number }
  | { op: 'del'; ns: string; key: string };

/** What one journal frame holds: the versions of one commit, or kv mutations. */
export interface Batch {
  records: VersionRecord[];
  kv: KvOp[];
}

interface BatchMeta {
  /** records without their `json` */
  r?: Array<Omit<VersionRecord, 'json'>>;
  /** byte length of each record's json, same order */
  l?: number[];
  kv?: KvOp[];
  /**
   * byte length of each put's value, same order, when the values follow the
   * record texts (frames written before this field carry `v` inside `kv`)
   */
  vl?: number[];
}

/*
 * Payload layout: u32 length of a JSON "meta" part, the meta JSON, then the
 * records' json texts back to back. Keeping the resource text out of the meta
 * avoids escaping every quote of it, and lets a reader slice one text without
 * parsing the others.
 */

/**
 * `indexJson[i]`, when given, is records[i]'s idx, srt and comp already
 * serialised (WriteOp.indexJson): spliced into the meta instead of
 * serialising the index again, which is most of the meta's cost.
 */
export function encodeBatch(batch: Batch, indexJson?: ReadonlyArray<string | undefined>): Buffer {
  // One buffer, each text encoded once into its place: building the meta by
  // joins and the payload by Buffer.concat copied every byte two or three
  // times (for a 20-entry transaction, about 100 KB more garbage).
  const texts: string[] = [];
  const lengths: number[] = [];
  let meta = '{';
  if (batch.records.length > 0) {
    let r = '';
    batch.records.forEach((record, i) => {
      texts.push(record.json);
      lengths.push(Buffer.byteLength(record.json, 'utf8'));
      r += (i === 0 ? '' : ',') + recordMeta(record, indexJson?.[i]);
    });
    meta += `"r":[${r}],"l":${JSON.stringify(lengths)}`;
  }
  if (batch.kv.length > 0) {
    // Values out of line too: a large value (an audit log batch) is not escaped into the meta.
    const kv: KvOp[] = [];
    const vl: number[] = [];
    for (const op of batch.kv) {
      if (op.op === 'put') {
        const { v, ...rest } = op;
        const length = Buffer.byteLength(v, 'utf8');
        kv.push(rest as KvOp);
        vl.push(length);
        lengths.push(length);
        texts.push(v);
      } else {
        kv.push(op);
      }
    }
    meta += `${meta === '{' ? '' : ','}"kv":${JSON.stringify(kv)},"vl":${JSON.stringify(vl)}`;
  }
  meta += '}';
  const metaLength = Buffer.byteLength(meta, 'utf8');
  let size = 4 + metaLength;
  for (const length of lengths) size += length;
  const payload = Buffer.allocUnsafe(size);
  payload.writeUInt32LE(metaLength, 0);
  payload.write(meta, 4, 'utf8');
  let at = 4 + metaLength;
  texts.forEach((text, i) => {
    payload.write(text, at, 'utf8');
    at += lengths[i]!;
  });
  return payload;
}

/** A record without its json, as JSON text: BatchMeta.r's element. */
function recordMeta(record: VersionRecord, indexJson: string | undefined): string {
  if (indexJson === undefined) {
    const { json: _json, ...rest } = record;
    return JSON.stringify(rest);
  }
  const { json: _json, idx: _idx, srt: _srt, comp: _comp, ...rest } = record;
  const text = JSON.stringify(rest);
  return text === '{}' ? `{${indexJson}}` : `${text.slice(0, -1)},${indexJson}}`;
}

export function decodeBatch(payload: Buffer): Batch {
  const { meta, textStart } = readMeta(payload);
  const records: VersionRecord[] = [];
  let at = textStart;
  const rs = meta.r ?? [];
  for (let i = 0; i < rs.length; i++) {
    const length = meta.l![i]!;
    records.push(withJson(rs[i]!, payload.toString('utf8', at, at + length)));
    at += length;
  }
  const kv = meta.kv ?? [];
  if (meta.vl) {
    let slot = 0;
    for (const op of kv) {
      if (op.op !== 'put') continue;
      const length = meta.vl[slot++]!;
      op.v = payload.toString('utf8', at, at + length);
      at += length;
    }
  }
  return { records, kv };
}

/** The record at position `slot` of a batch payload. */
export function decodeRecordAt(payload: Buffer, slot: number): VersionRecord {
  const { meta, textStart } = readMeta(payload);
  const rest = meta.r?.[slot];
  if (!rest) throw new Error(`journal batch has no record ${slot}`);
  let at = textStart;
  for (let i = 0; i < slot; i++) at += meta.l![i]!;
  return withJson(rest, payload.toString('utf8', at, at + meta.l![slot]!));
}

function readMeta(payload: Buffer): { meta: BatchMeta; textStart: number } {
  const metaLength = payload.readUInt32LE(0);
  const meta = JSON.parse(payload.toString('utf8', 4, 4 + metaLength)) as BatchMeta;
  return { meta, textStart: 4 + metaLength };
}

/**
 * The record with its json, built by one literal (the fields in the order
 * Repository.newRecord gives them) so that every decoded record shares one
 * hidden class. `{ ...rest, json }` gave each record a hidden class of its
 * own (V8 does not reuse the map of a spread followed by another property):
 * hundreds of bytes more per stored resource, and every property access on
 * records megamorphic.
 */
function withJson(rest: Omit<VersionRecord, 'json'>, json: string): VersionRecord {
  const record: VersionRecord = {
    type: rest.type, id: rest.id, vid: rest.vid, ts: rest.ts, lastUpdated: rest.lastUpdated, hk: rest.hk,
    deleted: rest.deleted, json, idx: rest.idx, srt: rest.srt, comp: rest.comp, method: rest.method,
  };
  if (rest.blob !== undefined) record.blob = rest.blob;
  return record;
}

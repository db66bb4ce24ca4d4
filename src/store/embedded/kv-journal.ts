import { rename, rm } from 'node:fs/promises';
import { decodeBatch, encodeBatch, type KvOp } from './batch-codec.js';
import { fsyncDirectory } from './fsync-directory.js';
import { Journal, type EngineLog } from './journal.js';
import type { KvTable } from './kv-table.js';

/** Below this many replayed mutations, rewriting is not worth a start-up's time. */
const COMPACT_AFTER = 1000;

/**
 * Opens the key-value journal, a sibling of the resource journal: its entries
 * die (single-use codes, jti values with an expiry) while resource versions
 * never do, so it is rewritten on open when mostly dead — live entries into
 * one frame of a temp file, synced, then renamed over the old file.
 */
export async function openKvJournal(file: string, log: EngineLog, table: KvTable, now: number): Promise<Journal> {
  let mutations = 0;
  const journal = await Journal.open(file, log, (payload) => {
    for (const op of decodeBatch(payload).kv) {
      mutations++;
      // Expired values are dead on arrival: keep them out of memory.
      table.apply(op.op === 'put' && op.exp !== undefined && op.exp <= now ? { op: 'del', ns: op.ns, key: op.key } : op);
    }
  });
  const live: KvOp[] = table.entries().map(({ ns, key, entry }) => ({ op: 'put', ns, key, v: entry.v, ...(entry.exp === undefined ? {} : { exp: entry.exp }) }));
  if (mutations < COMPACT_AFTER || mutations < 2 * live.length) return journal;
  await journal.close();
  const temp = `${file}.compact`;
  await rm(temp, { force: true });
  const fresh = await Journal.open(temp, log, () => undefined);
  if (live.length > 0) await fresh.append(encodeBatch({ records: [], kv: live }), () => undefined);
  await fresh.close();
  await rename(temp, file);
  await fsyncDirectory(file);
  log.info(`key-value journal ${file}: compacted ${mutations} mutations to ${live.length} live entries`);
  return Journal.open(file, log, () => undefined);
}

/**
 * A Binary's bytes are stored as a blob before the version naming them
 * commits; a server killed in between leaves a complete blob that nothing
 * names. The embedded engine removes those at start, and only those: every
 * blob a version names (current or in history) stays readable.
 */
import { spawn } from 'node:child_process';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { StoreEngine, VersionRecord } from '../../src/store/engine.js';
import { loaderArgs, runnableUrl } from '../helpers/repo.js';
import { tempDir } from '../helpers/tokens.js';
import { openEmbeddedEngine } from '../helpers/embedded-engine.js';

interface Logged {
  infos: string[];
  warnings: string[];
  log: { info: (m: string) => void; warn: (m: string) => void };
}

function logged(): Logged {
  const infos: string[] = [];
  const warnings: string[] = [];
  return { infos, warnings, log: { info: (m) => void infos.push(m), warn: (m) => void warnings.push(m) } };
}

let clock = Date.UTC(2024, 5, 1);

/** A Binary version whose bytes are the blob `blob` (a tombstone without it). */
function binary(id: string, vid: number, blob: string | undefined): VersionRecord {
  clock += 1000;
  const lastUpdated = new Date(clock).toISOString();
  const record: VersionRecord = {
    type: 'Binary', id, vid, ts: clock, lastUpdated, hk: `${lastUpdated}|${id}|${vid}`, deleted: blob === undefined,
    json: blob === undefined ? '' : JSON.stringify({ resourceType: 'Binary', id, meta: { versionId: String(vid), lastUpdated }, contentType: 'application/pdf' }),
    idx: {}, srt: {}, comp: [], method: blob === undefined ? 'DELETE' : vid === 1 ? 'POST' : 'PUT',
  };
  if (blob !== undefined) record.blob = blob;
  return record;
}

/** Stores `text` as a blob, as a Binary upload does before its commit. */
async function putBlob(engine: StoreEngine, text: string): Promise<string> {
  return (await engine.blobs.put(Readable.from([Buffer.from(text)]), { maxBytes: 1024 * 1024 })).key;
}

async function readBlob(engine: StoreEngine, key: string): Promise<string | undefined> {
  const blob = await engine.blobs.open(key);
  if (!blob) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of blob.stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function blobFiles(dataDir: string): Promise<string[]> {
  return (await readdir(path.join(dataDir, 'blobs'))).sort();
}

/**
 * Current and historical Binary versions, each with its blob: b1 v1 (k1, in
 * history), b1 v2 (k2, current), b2 v1 (k3) then deleted (k3 in history only).
 */
async function storeBinaries(engine: StoreEngine): Promise<Record<string, string>> {
  const k1 = await putBlob(engine, 'b1 version 1');
  await engine.commit([{ record: binary('b1', 1, k1), expectVid: 0 }]);
  const k2 = await putBlob(engine, 'b1 version 2');
  await engine.commit([{ record: binary('b1', 2, k2), expectVid: 1 }]);
  const k3 = await putBlob(engine, 'b2, deleted since');
  await engine.commit([{ record: binary('b2', 1, k3), expectVid: 0 }]);
  await engine.commit([{ record: binary('b2', 2, undefined), expectVid: 1 }]);
  return { [k1]: 'b1 version 1', [k2]: 'b1 version 2', [k3]: 'b2, deleted since' };
}

const engineModule = runnableUrl('src/store/embedded/embedded-engine.ts');

/** Runs `body` in a new process, with `engine` opened on `dataDir`; resolves with its stdout and how it ended. */
async function inChild(dataDir: string, body: string): Promise<{ out: string; ended: number | string }> {
  const script = `
    import { Readable } from 'node:stream';
    import { createEmbeddedEngine } from ${JSON.stringify(engineModule)};
    const lines = [];
    const engine = createEmbeddedEngine({ dataDir: ${JSON.stringify(dataDir)}, log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) } });
    await engine.open();
    ${body}
  `;
  const child = spawn(process.execPath, [...loaderArgs, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const ended = await new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { out, ended };
}

t.test('the blob of a Binary upload killed before its commit is removed at the next start; every blob a version names stays', async (t) => {
  const dataDir = await tempDir(t, 'carnet-orphans-');
  const engine = await openEmbeddedEngine(t, dataDir, logged().log);
  const kept = await storeBinaries(engine);
  await engine.close();

  // A server that stores one more Binary, then is killed while the next one's commit is on its way.
  const killed = await inChild(dataDir, `
    const stored = await engine.blobs.put(Readable.from([Buffer.from('committed before the kill')]), { maxBytes: 1 << 20 });
    const record = (id, key) => ({ type: 'Binary', id, vid: 1, ts: 1, lastUpdated: '2024-06-02T00:00:00.000Z', hk: '2024-06-02T00:00:00.000Z|' + id + '|1', deleted: false,
      json: JSON.stringify({ resourceType: 'Binary', id }), idx: {}, srt: {}, comp: [], method: 'POST', blob: key });
    await engine.commit([{ record: record('b3', stored.key), expectVid: 0 }]);
    const orphan = await engine.blobs.put(Readable.from([Buffer.from('never committed')]), { maxBytes: 1 << 20 });
    process.stdout.write(JSON.stringify({ stored: stored.key, orphan: orphan.key }));
    void engine.commit([{ record: record('b4', orphan.key), expectVid: 0 }]);
    process.kill(process.pid, 'SIGKILL');
  `);
  t.equal(killed.ended, 'SIGKILL', 'the writer was killed with its commit in flight');
  const { stored, orphan } = JSON.parse(killed.out) as { stored: string; orphan: string };
  kept[stored] = 'committed before the kill';
  const before = await blobFiles(dataDir);
  t.ok(before.includes(orphan) && before.includes(`${orphan}.json`), 'the kill left the whole orphan blob behind');

  // The next start (a process started after every one of those files was written).
  const restarted = await inChild(dataDir, `
    process.stdout.write(JSON.stringify(lines));
    await engine.close();
  `);
  t.equal(restarted.ended, 0);
  const lines = JSON.parse(restarted.out) as string[];
  t.match(lines.filter((m) => /removed/.test(m)), [/removed 1 blob that no version names \(2 files, \d+ bytes\)/], 'the start says what it removed');

  const after = await blobFiles(dataDir);
  t.notOk(after.includes(orphan) || after.includes(`${orphan}.json`), 'the orphan is gone, bytes and info');
  t.same(after, Object.keys(kept).flatMap((k) => [k, `${k}.json`]).sort(), 'every blob a version names is still there');
  const reopened = await openEmbeddedEngine(t, dataDir, logged().log);
  for (const [key, text] of Object.entries(kept)) t.equal(await readBlob(reopened, key), text, `blob ${key} reads back`);
  for (const { id, vid, text } of [{ id: 'b1', vid: 1, text: 'b1 version 1' }, { id: 'b1', vid: 2, text: 'b1 version 2' }, { id: 'b2', vid: 1, text: 'b2, deleted since' }]) {
    const version = await reopened.version('Binary', id, vid);
    t.equal(version?.blob && (await readBlob(reopened, version.blob)), text, `Binary/${id}/_history/${vid} has its bytes`);
  }
  const history = await reopened.history({ type: 'Binary', limit: 100 });
  t.equal(history.length, 5, 'the history holds every version that committed');
  for (const version of history) if (version.blob) t.ok(await readBlob(reopened, version.blob), `the blob of ${version.id}/${version.vid} in history reads back`);
  t.equal(await reopened.current('Binary', 'b4'), undefined, 'the write that never committed is not there');
});

t.test('only blobs older than this process are removed, and only files that are blobs', async (t) => {
  const dataDir = await tempDir(t, 'carnet-orphans-');
  const engine = await openEmbeddedEngine(t, dataDir, logged().log);
  const kept = await storeBinaries(engine);
  const orphan = await putBlob(engine, 'written by this process, never committed');
  await engine.close();
  const blobs = path.join(dataDir, 'blobs');
  await writeFile(path.join(blobs, 'notes.txt'), 'not a blob');
  await writeFile(path.join(blobs, 'not-a-key.json'), '{}');

  const first = logged();
  const same = await openEmbeddedEngine(t, dataDir, first.log);
  t.ok((await blobFiles(dataDir)).includes(orphan), 'a blob written since this process started is kept (an upload of this process may still be on its way)');
  t.same(first.infos.filter((m) => /removed/.test(m)), []);
  await same.close();

  // As if every file had been left by an earlier run.
  const anHourAgo = new Date(Date.now() - 3600_000);
  for (const name of await blobFiles(dataDir)) await utimes(path.join(blobs, name), anHourAgo, anHourAgo);
  const second = logged();
  const later = await openEmbeddedEngine(t, dataDir, second.log);
  t.match(second.infos.filter((m) => /removed/.test(m)), [/removed 1 blob that no version names \(2 files, \d+ bytes\)/]);
  t.same(await blobFiles(dataDir), [...Object.keys(kept).flatMap((k) => [k, `${k}.json`]), 'not-a-key.json', 'notes.txt'].sort(), 'the orphan only is gone');
  for (const [key, text] of Object.entries(kept)) t.equal(await readBlob(later, key), text);
  t.same(second.warnings, []);
});

import { spawn } from 'node:child_process';
import { appendFile, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { create, observation } from '../helpers/engine-contract.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loaderArgs, runnableUrl } from '../helpers/repo.js';
import { tempDir } from '../helpers/tokens.js';
import { openEmbeddedEngine } from '../helpers/embedded-engine.js';

/**
 * Three commits, each by an engine closed after it; returns the journal's
 * size after each (a clean close leaves the file ending at its last frame).
 */
async function writeThree(t: Test, dataDir: string): Promise<number[]> {
  const sizes: number[] = [];
  for (const id of ['a', 'b', 'c']) {
    const engine = await openEmbeddedEngine(t, dataDir);
    await engine.commit([create(observation({ id, patient: 'p1', code: '29463-7', value: 70 }))]);
    await engine.close();
    sizes.push((await stat(path.join(dataDir, 'journal'))).size);
  }
  return sizes;
}

async function present(engine: StoreEngine): Promise<string[]> {
  const found = await engine.find({ types: ['Observation'], filter: {}, sort: [['id', 1]], limit: 10 });
  return found.map((r) => r.id);
}

t.test('garbage appended after the last record is dropped with a warning', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const sizes = await writeThree(t, dataDir);
  await appendFile(path.join(dataDir, 'journal'), Buffer.from([0x42, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
  const { warnings, log } = recordingLog();
  const engine = await openEmbeddedEngine(t, dataDir, log);
  t.same(await present(engine), ['a', 'b', 'c'], 'every acknowledged record is intact');
  t.match(warnings, [/torn or corrupt tail of 11 bytes/], 'the operator is told');
  t.equal((await stat(path.join(dataDir, 'journal'))).size, sizes[2], 'the tail is cut off the file');
  await engine.commit([create(observation({ id: 'd', patient: 'p1', code: '29463-7' }))]);
  await engine.close();
  const again = await openEmbeddedEngine(t, dataDir);
  t.same(await present(again), ['a', 'b', 'c', 'd'], 'writes after the repair are kept');
});

t.test('a record cut in the middle (torn write) is dropped, earlier ones kept', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const sizes = await writeThree(t, dataDir);
  await truncate(path.join(dataDir, 'journal'), sizes[2]! - 25);
  const { warnings, log } = recordingLog();
  const engine = await openEmbeddedEngine(t, dataDir, log);
  t.same(await present(engine), ['a', 'b']);
  t.equal(warnings.length, 1);
  t.equal((await stat(path.join(dataDir, 'journal'))).size, sizes[1]);
});

t.test('a record whose bytes changed fails its checksum: dropped as the torn tail of a crash, refused once a later frame attests it', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const sizes = await writeThree(t, dataDir);
  const file = path.join(dataDir, 'journal');
  // A clean close ends the journal with a 16-byte mark attesting every frame: a changed byte of c is damage to an acknowledged write.
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from('X'), 0, 1, sizes[2]! - 16 - 10);
  await fh.close();
  const damaged = await readFile(file);
  await t.rejects(createEmbeddedEngine({ dataDir, log: recordingLog().log }).open(), { name: 'JournalCorruptError' });
  t.ok((await readFile(file)).equals(damaged), 'the file is left as it was');
  // Without the mark (a kill -9 as c's frame was being written), c is a torn tail: dropped.
  await truncate(file, sizes[2]! - 16);
  const { warnings, log } = recordingLog();
  const engine = await openEmbeddedEngine(t, dataDir, log);
  t.same(await present(engine), ['a', 'b']);
  t.match(warnings, [/torn or corrupt/]);
});

t.test('the journal writes zeros ahead of its frames, and a clean close cuts them off', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const file = path.join(dataDir, 'journal');
  const engine = await openEmbeddedEngine(t, dataDir);
  await engine.commit([create(observation({ id: 'a', patient: 'p1', code: '29463-7' }))]);
  // The first commit started the zeros, 64 KiB past its frame; a frame that would reach them waits for them.
  const b = observation({ id: 'b', patient: 'p1', code: '29463-7' });
  await engine.commit([create({ ...b, json: JSON.stringify({ ...JSON.parse(b.json), note: [{ text: 'x'.repeat(100_000) }] }) })]);
  const open1 = (await stat(file)).size;
  t.ok(open1 >= 1024 * 1024, `the file is at least 1 MiB long while open (${open1} bytes)`);
  await engine.close();
  const closed = (await stat(file)).size;
  t.ok(closed < 110_000, `a clean close leaves the frames only (${closed} bytes)`);
  const again = await openEmbeddedEngine(t, dataDir);
  t.same(await present(again), ['a', 'b']);
});

t.test('a large frame asks for no zeros ahead: a bulk load does not write its bytes twice', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const file = path.join(dataDir, 'journal');
  const engine = await openEmbeddedEngine(t, dataDir);
  const big = observation({ id: 'big', patient: 'p1', code: '29463-7' });
  await engine.commit([create({ ...big, json: JSON.stringify({ ...JSON.parse(big.json), note: [{ text: 'x'.repeat(200_000) }] }) })]);
  const open1 = (await stat(file)).size;
  await engine.close();
  t.equal(open1 + 16, (await stat(file)).size, `the file ends at its frame while open (${open1} bytes); a clean close adds its 16-byte mark`);
});

t.test('zeros after the last frame (a stop without close) are space ahead, not a torn tail', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const sizes = await writeThree(t, dataDir);
  const file = path.join(dataDir, 'journal');
  await appendFile(file, Buffer.alloc(3 * 1024 * 1024));
  const { warnings, log } = recordingLog();
  const engine = await openEmbeddedEngine(t, dataDir, log);
  t.same(await present(engine), ['a', 'b', 'c']);
  t.same(warnings, [], 'nothing to report');
  await engine.commit([create(observation({ id: 'd', patient: 'p1', code: '29463-7' }))]);
  t.equal((await stat(file)).size, sizes[2]! + 3 * 1024 * 1024, 'the next frame is written into the zeros, the file does not grow');
  await engine.close();
  const again = await openEmbeddedEngine(t, dataDir);
  t.same(await present(again), ['a', 'b', 'c', 'd']);
});

t.test('zeros followed by other bytes are a corrupt tail: cut and reported', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const sizes = await writeThree(t, dataDir);
  const file = path.join(dataDir, 'journal');
  await appendFile(file, Buffer.concat([Buffer.alloc(2 * 1024 * 1024 + 5), Buffer.from('stray')]));
  const { warnings, log } = recordingLog();
  const engine = await openEmbeddedEngine(t, dataDir, log);
  t.same(await present(engine), ['a', 'b', 'c']);
  t.match(warnings, [/torn or corrupt tail of 2097162 bytes/]);
  t.equal((await stat(file)).size, sizes[2]);
});

t.test('a burst larger than the space ahead is written whole, in order', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const engine = await openEmbeddedEngine(t, dataDir);
  // About 6 MiB at once: frames catch up with the zeros being written and wait for them, or go past them.
  const big = 'x'.repeat(3000);
  const ids = Array.from({ length: 2000 }, (_, i) => `burst${String(i).padStart(4, '0')}`);
  await Promise.all(ids.map((id) => engine.commit([create({ ...observation({ id, patient: 'p1', code: '29463-7' }), json: JSON.stringify({ resourceType: 'Observation', id, note: [{ text: big }] }) })])));
  await engine.close();
  const again = await openEmbeddedEngine(t, dataDir);
  const found = await again.find({ types: ['Observation'], filter: {}, sort: [['id', 1]], limit: 5000 });
  t.same(found.map((r) => r.id), ids);
  t.ok(found.every((r) => JSON.parse(r.json).note[0].text === big), 'every frame reads back intact');
});

t.test('a file that is not a journal is refused, not repaired', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  await writeFile(path.join(dataDir, 'journal'), 'hello, this is somebody else\'s file');
  const engine = createEmbeddedEngine({ dataDir, log: recordingLog().log });
  await t.rejects(engine.open(), /is not a carnet journal/);
  await t.rejects(stat(path.join(dataDir, 'LOCK')), { code: 'ENOENT' }, 'a failed open leaves no lock behind');
});

t.test('old versions are read back from the journal after many writes', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  const engine = await openEmbeddedEngine(t, dataDir);
  let record = observation({ id: 'x', patient: 'p1', code: '29463-7', value: 1 });
  const texts = [record.json];
  await engine.commit([create(record)]);
  for (let v = 2; v <= 20; v++) {
    const next = observation({ id: 'x', vid: v, patient: 'p1', code: '29463-7', value: v });
    await engine.commit([{ record: next, expectVid: v - 1 }]);
    texts.push(next.json);
    record = next;
  }
  for (let v = 1; v <= 20; v++) t.equal((await engine.version('Observation', 'x', v))?.json, texts[v - 1], `version ${v}`);
});

t.test('the key-value journal is compacted on open when mostly dead', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  let now = 1_700_000_000_000;
  const clock = () => now;
  const quiet = recordingLog().log;
  const engine = createEmbeddedEngine({ dataDir, log: quiet, now: clock });
  await engine.open();
  await Promise.all(Array.from({ length: 600 }, (_, i) => engine.kv.put('jti', `j${i}`, true, { expiresAt: now + 1000 })));
  await Promise.all(Array.from({ length: 300 }, (_, i) => engine.kv.put('codes', `c${i}`, { i })));
  await Promise.all(Array.from({ length: 299 }, (_, i) => engine.kv.take('codes', `c${i}`)));
  await engine.kv.put('keys', 'signing', { kid: 'k1' });
  await engine.close();
  const file = path.join(dataDir, 'kv-journal');
  const before = (await stat(file)).size;
  now += 1000;
  const again = createEmbeddedEngine({ dataDir, log: quiet, now: clock });
  await again.open();
  t.teardown(() => again.close());
  t.ok((await stat(file)).size < before / 10, 'the file shrank to its live entries');
  t.same(await again.kv.get('keys', 'signing'), { kid: 'k1' });
  t.same(await again.kv.list('codes'), [{ key: 'c299', value: { i: 299 } }]);
  t.same(await again.kv.list('jti'), []);
  await again.kv.put('keys', 'other', 1);
  await again.close();
  const third = createEmbeddedEngine({ dataDir, log: quiet, now: clock });
  await third.open();
  t.teardown(() => third.close());
  t.same((await third.kv.list('keys')).map((e) => e.key).sort(), ['other', 'signing'], 'writes after compaction are kept');
});

const engineModule = runnableUrl('src/store/embedded/embedded-engine.ts');
const fixtureModule = runnableUrl('test/helpers/engine-contract.ts');

t.test('every acknowledged commit survives kill -9', async (t) => {
  const dataDir = await tempDir(t, 'carnet-journal-');
  // A writer with 8 commits in flight at all times, printing each id once its commit resolved.
  const script = `
    import { createEmbeddedEngine } from ${JSON.stringify(engineModule)};
    import { create, observation } from ${JSON.stringify(fixtureModule)};
    const engine = createEmbeddedEngine({ dataDir: ${JSON.stringify(dataDir)} });
    await engine.open();
    let n = 0;
    const worker = async () => {
      for (;;) {
        const id = 'k' + n++;
        await engine.commit([create(observation({ id, patient: 'p1', code: '29463-7', value: n }))]);
        process.stdout.write(id + '\\n');
      }
    };
    for (let i = 0; i < 8; i++) void worker();
  `;
  const child = spawn(process.execPath, [...loaderArgs, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acknowledged: string[] = [];
  let buffered = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      acknowledged.push(...lines);
      if (acknowledged.length >= 300 && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => resolve());
  });
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.on('exit', resolve)));
  t.equal(child.signalCode, 'SIGKILL', 'the writer was killed mid-burst');
  const engine = await openEmbeddedEngine(t, dataDir);
  const stored = new Set((await engine.find({ types: ['Observation'], filter: {}, sort: [], limit: 100_000 })).map((r) => r.id));
  const lost = acknowledged.filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acknowledged.length} acknowledged commits are there (${stored.size} stored)`);
});

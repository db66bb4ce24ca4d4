/**
 * Damage in the journal that a crash cannot have left (a flipped byte, a bad
 * sector, in the middle of acknowledged frames) is refused, the file left as
 * it was; a torn tail, which a crash leaves after the last acknowledged
 * frame, is still cut off and everything before it kept.
 */
import { copyFile, mkdir, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { encodeBatch } from '../../src/store/embedded/batch-codec.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { Journal } from '../../src/store/embedded/journal.js';
import type { StoreEngine, VersionRecord } from '../../src/store/engine.js';
import { create, observation, update } from '../helpers/engine-contract.js';
import { recordingLog } from '../helpers/recording-log.js';
import { tempDir } from '../helpers/tokens.js';
import { openEmbeddedEngine } from '../helpers/embedded-engine.js';

async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, at);
  } finally {
    await fh.close();
  }
}

async function ids(engine: StoreEngine): Promise<string[]> {
  const found = await engine.find({ types: ['Observation'], filter: {}, sort: [['id', 1]], limit: 10_000 });
  return found.map((r) => r.id);
}

const name = (i: number) => `o${String(i).padStart(3, '0')}`;

/** Appends `count` frames one after the other, each acknowledged before the next; their offsets. */
async function appendAcknowledged(journal: Journal, count: number, text = (i: number) => `frame ${i} `.repeat(20)): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) await journal.append(Buffer.from(text(i)), (offset) => void offsets.push(offset));
  return offsets;
}

async function replayAll(file: string, log = recordingLog().log): Promise<string[]> {
  const frames: string[] = [];
  const journal = await Journal.open(file, log, (payload) => void frames.push(payload.toString()));
  await journal.close();
  return frames;
}

t.test('one bad byte in the middle of the journal: the store refuses to open, names the file and the offset, and changes nothing', async (t) => {
  const dataDir = await tempDir(t, 'carnet-corrupt-');
  const engine = await openEmbeddedEngine(t, dataDir);
  for (let i = 0; i < 60; i++) await engine.commit([create(observation({ id: name(i), patient: 'p1', code: '29463-7', value: i }))]);
  await engine.close();
  const file = path.join(dataDir, 'journal');
  const size = (await stat(file)).size;
  await flipByte(file, Math.floor(size / 2));
  const before = await readFile(file);

  const { warnings, log } = recordingLog();
  const again = createEmbeddedEngine({ dataDir, log });
  const err = await again.open().then(() => undefined, (e: unknown) => e as Error & { offset?: number; following?: number });
  t.ok(err, 'the open is refused');
  t.equal(err?.name, 'JournalCorruptError');
  t.match(err?.message, file, 'the message names the file');
  const offset = Number(/byte offset (\d+)/.exec(err?.message ?? '')?.[1]);
  t.ok(offset > 8 && offset <= Math.floor(size / 2) && offset > Math.floor(size / 2) - 2000, `the offset is where the damaged frame starts (${offset})`);
  t.equal(err?.offset, offset);
  t.match(err?.message, `${size - offset} bytes`, 'and says how many bytes follow it');
  t.same(warnings, [], 'nothing was reported as repaired');
  t.ok((await readFile(file)).equals(before), 'the file is byte for byte what it was');
  await t.rejects(stat(path.join(dataDir, 'LOCK')), { code: 'ENOENT' }, 'the refused open leaves no lock behind');
  await t.rejects(again.open(), { name: 'JournalCorruptError' }, 'a second try refuses again');
  t.ok((await readFile(file)).equals(before), 'and still changes nothing');

  // The procedure the message gives, for an operator who gives up what follows the damage.
  await truncate(file, offset);
  const repaired = await openEmbeddedEngine(t, dataDir);
  const kept = await ids(repaired);
  t.ok(kept.length > 0 && kept.length < 60, `after the operator's truncate, the writes before the damage are there (${kept.length})`);
  t.same(kept, Array.from({ length: kept.length }, (_, i) => name(i)));
});

t.test('damage anywhere in acknowledged frames is refused with the offset of its frame; the file is left byte-identical', async (t) => {
  const dir = await tempDir(t, 'carnet-corrupt-');
  const file = path.join(dir, 'journal');
  const journal = await Journal.open(file, recordingLog().log, () => undefined);
  const offsets = await appendAcknowledged(journal, 40);
  await journal.close();
  const size = (await stat(file)).size;
  const pristine = await readFile(file);
  // A payload byte, a length byte, a checksum byte: of frame 20, and of the last frame (before the mark a clean close writes).
  for (const [frame, within] of [[20, 40], [20, 1], [20, 5], [39, 30]] as const) {
    const copy = path.join(dir, `journal-${frame}-${within}`);
    await writeFile(copy, pristine);
    await flipByte(copy, offsets[frame]! + within);
    const damaged = await readFile(copy);
    const { warnings, log } = recordingLog();
    await t.rejects(
      Journal.open(copy, log, () => undefined),
      { name: 'JournalCorruptError', file: copy, offset: offsets[frame], following: size - offsets[frame]! },
      `a byte at +${within} of frame ${frame}`,
    );
    t.same(warnings, []);
    t.ok((await readFile(copy)).equals(damaged), 'the file is unchanged');
  }
});

t.test('damage followed by frames acknowledged later, in a crash image (no clean close): still refused', async (t) => {
  const dir = await tempDir(t, 'carnet-corrupt-');
  const file = path.join(dir, 'journal');
  const journal = await Journal.open(file, recordingLog().log, () => undefined);
  const offsets = await appendAcknowledged(journal, 30);
  // What a kill -9 now would leave: the frames, then the zeros written ahead; no mark.
  const image = path.join(dir, 'image');
  await copyFile(file, image);
  await journal.close();
  await flipByte(image, offsets[10]! + 30);
  const damaged = await readFile(image);
  await t.rejects(Journal.open(image, recordingLog().log, () => undefined), { name: 'JournalCorruptError', offset: offsets[10] });
  t.ok((await readFile(image)).equals(damaged), 'the file is unchanged');
});

t.test('a torn tail (the last frame cut, as a crash mid-write leaves it) is still cut off, every earlier write readable', async (t) => {
  const dataDir = await tempDir(t, 'carnet-corrupt-');
  const engine = await openEmbeddedEngine(t, dataDir);
  const versions: VersionRecord[] = [];
  let x = observation({ id: 'x', patient: 'p1', code: '29463-7', value: 1 });
  await engine.commit([create(x)]);
  versions.push(x);
  for (let v = 2; v <= 10; v++) {
    x = observation({ id: 'x', vid: v, patient: 'p1', code: '29463-7', value: v });
    await engine.commit([update(x)]);
    versions.push(x);
  }
  for (let i = 0; i < 20; i++) await engine.commit([create(observation({ id: name(i), patient: 'p2', code: '29463-7', value: i }))]);
  const file = path.join(dataDir, 'journal');
  // The journal as a kill -9 leaves it, with the last frame half written.
  const image = await readFile(file);
  const offsets = await frameOffsets(file);
  const lastStarts = offsets[offsets.length - 1]!;
  await engine.close();
  await writeFile(file, image.subarray(0, lastStarts + 30));

  const { warnings, log } = recordingLog();
  const again = await openEmbeddedEngine(t, dataDir, log);
  t.match(warnings, [/torn or corrupt tail of 30 bytes at offset/], 'the operator is told');
  t.notOk((await readFile(file)).includes('"id":"o019"'), 'the torn frame is cut off the file');
  t.same(await ids(again), ['o000', 'o001', 'o002', 'o003', 'o004', 'o005', 'o006', 'o007', 'o008', 'o009', 'o010', 'o011', 'o012', 'o013', 'o014', 'o015', 'o016', 'o017', 'o018', 'x'], 'every acknowledged write but the torn one');
  for (const v of versions) t.equal((await again.version('Observation', 'x', v.vid))?.json, v.json, `version ${v.vid} of x reads back`);
  await again.commit([create(observation({ id: 'after', patient: 'p1', code: '29463-7' }))]);
  await again.close();
  const third = await openEmbeddedEngine(t, dataDir);
  t.ok((await ids(third)).includes('after'), 'writes after the repair are kept');
});

/** Where each frame of a journal starts, as replay finds them (read from a copy: opening a journal may write to it). */
async function frameOffsets(file: string): Promise<number[]> {
  const copy = `${file}.offsets`;
  await copyFile(file, copy);
  const offsets: number[] = [];
  const journal = await Journal.open(copy, recordingLog().log, (_payload, offset) => void offsets.push(offset));
  await journal.close();
  await rm(copy);
  return offsets;
}

t.test('a hole left by writes in flight together (a crash) is a torn tail, though a later frame of theirs reached the disk', async (t) => {
  const dir = await tempDir(t, 'carnet-corrupt-');
  const file = path.join(dir, 'journal');
  const journal = await Journal.open(file, recordingLog().log, () => undefined);
  await appendAcknowledged(journal, 1);
  // Two frames appended before either is acknowledged, as concurrent writers' are.
  const offsets: number[] = [];
  await Promise.all(['lost '.repeat(50), 'reached the disk '.repeat(20)].map((text) => journal.append(Buffer.from(text), (o) => void offsets.push(o))));
  const image = path.join(dir, 'image');
  await copyFile(file, image);
  await journal.close();
  // The first of the two never reached the disk: zeros (the space written ahead), the second did.
  const fh = await open(image, 'r+');
  await fh.write(Buffer.alloc(offsets[1]! - offsets[0]!), 0, offsets[1]! - offsets[0]!, offsets[0]!);
  await fh.close();
  const { warnings, log } = recordingLog();
  t.same(await replayAll(image, log), ['frame 0 '.repeat(20)], 'the frame before the hole only');
  t.match(warnings, [/torn or corrupt tail/], 'the operator is told');
  t.notOk((await readFile(image)).includes('reached the disk'), 'the file is cut at the hole');
});

t.test('the key-value journal is guarded the same way', async (t) => {
  const dataDir = await tempDir(t, 'carnet-corrupt-');
  const engine = await openEmbeddedEngine(t, dataDir);
  for (let i = 0; i < 40; i++) await engine.kv.put('keys', `k${i}`, { i, pad: 'x'.repeat(100) });
  await engine.close();
  const file = path.join(dataDir, 'kv-journal');
  await flipByte(file, Math.floor((await stat(file)).size / 2));
  const before = await readFile(file);
  const again = createEmbeddedEngine({ dataDir, log: recordingLog().log });
  await t.rejects(again.open(), { name: 'JournalCorruptError', file });
  t.ok((await readFile(file)).equals(before), 'the file is unchanged');
});

/** A journal as the previous release wrote it: CARNETJ1, then frames of u32 length, u32 crc32, payload. */
function legacyJournal(records: VersionRecord[]): { bytes: Buffer; offsets: number[] } {
  const parts: Buffer[] = [Buffer.from('CARNETJ1', 'latin1')];
  const offsets: number[] = [];
  let at = 8;
  for (const record of records) {
    const payload = encodeBatch({ records: [record], kv: [] });
    const header = Buffer.alloc(8);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    parts.push(header, payload);
    offsets.push(at);
    at += 8 + payload.length;
  }
  return { bytes: Buffer.concat(parts), offsets };
}

t.test('a journal of the previous format is read, and once opened, damage in its old frames is refused too', async (t) => {
  const dataDir = await tempDir(t, 'carnet-corrupt-');
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, 'journal');
  const records = Array.from({ length: 30 }, (_, i) => observation({ id: name(i), patient: 'p1', code: '29463-7', value: i }));
  const { bytes, offsets } = legacyJournal(records);
  await writeFile(file, bytes);
  const engine = await openEmbeddedEngine(t, dataDir);
  t.same(await ids(engine), records.map((r) => r.id), 'every frame of the old format is replayed');
  await engine.commit([create(observation({ id: 'new', patient: 'p1', code: '29463-7' }))]);
  await engine.close();
  const reopened = await openEmbeddedEngine(t, dataDir);
  t.equal((await ids(reopened)).length, 31, 'old and new frames read back together');
  await reopened.close();

  await flipByte(file, offsets[15]! + 20);
  const before = await readFile(file);
  const again = createEmbeddedEngine({ dataDir, log: recordingLog().log });
  await t.rejects(again.open(), { name: 'JournalCorruptError', offset: offsets[15] });
  t.ok((await readFile(file)).equals(before), 'the file is unchanged');
});

import type { Resource } from '@medplum/fhirtypes';
import t from 'tap';
import { extractIndex } from '../../src/fhir/search/extract.js';
import type { ExtractedIndex } from '../../src/fhir/search/extract.js';
import type { VersionRecord } from '../../src/store/engine.js';
import { StringPool } from '../../src/store/embedded/string-pool.js';
import { indexText, readIndexText, SharedIndexValues, ValueNumbering } from '../../src/store/index-text.js';
import { heartRate } from '../fixtures/heart-rate.js';

function observation(id: string, patient: string, value: number): Resource {
  return { ...heartRate, id, subject: { reference: `Patient/${patient}` }, valueQuantity: { ...heartRate.valueQuantity, value } } as Resource;
}

/** A worker's numbering and the main thread's copies, as a write worker and WriteWorkers pair them. */
function channel() {
  const numbering = new ValueNumbering();
  const shared = new SharedIndexValues();
  return { numbering, shared, send: (resource: Resource) => readIndexText(indexText(extractIndex(resource), numbering), shared) };
}

t.test('the text is what JSON.stringify gives, and reads back to the same index', async (t) => {
  const { numbering, shared } = channel();
  const samples: ExtractedIndex[] = [
    extractIndex(observation('o1', 'p1', 72)),
    extractIndex({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Martin', given: ['Léa'] }], birthDate: '1980-02-29' }),
    { idx: {}, srt: {}, comp: [] },
  ];
  for (const round of [1, 2, 3]) {
    for (const index of samples) {
      const written = indexText(index, numbering);
      t.equal(written.text, JSON.stringify(index), 'the journal and the worker keep the text they always had');
      t.ok(written.parts, 'with where its parts lie');
      t.strictSame(readIndexText(written, shared), index, `read back (round ${round}: values met ${round > 1 ? 'before' : 'for the first time'})`);
    }
  }
});

t.test('a value met twice is shared, frozen, by every later index that holds it', async (t) => {
  const { send } = channel();
  const first = send(observation('o1', 'p1', 72));
  t.notOk(Object.isFrozen(first.comp), 'met once: an ordinary value, whose version may still intern its strings');
  t.notOk(Object.isFrozen(first.idx.code), 'the code, met for the first time');
  const shared = first.idx['combo-code'];
  t.same(shared, first.idx.code, 'met again within the same index (combo-code holds the same text): numbered, shared from then on');
  const second = send(observation('o2', 'p1', 80));
  const third = send(observation('o3', 'p2', 72));
  const fourth = send(observation('o4', 'p1', 72));
  t.equal(second.idx.code, shared, 'the same code: one copy');
  t.equal(third.idx.code, shared);
  t.equal(third.idx['combo-code'], shared);
  t.ok(Object.isFrozen(shared) && Object.isFrozen(shared![0]), 'frozen, deeply');
  t.throws(() => (shared as unknown[]).push({}), TypeError, 'so that nobody changes what other versions hold');
  t.equal(fourth.comp, second.comp, 'the compartment list of one patient is shared from its second sighting on');
  t.ok(Object.isFrozen(second.comp));
  t.not(third.comp, second.comp, 'another patient has a list of their own');
  t.not(second.idx['value-quantity'], fourth.idx['value-quantity'], 'a different value is not shared');
  t.equal(fourth.idx['value-quantity'], third.idx['value-quantity'], 'an equal one is');
  t.not(fourth.srt, third.srt, 'sort keys are never shared');
});

t.test('a number defined in a message that never arrived is defined by the next one', async (t) => {
  const numbering = new ValueNumbering();
  const shared = new SharedIndexValues();
  const index = extractIndex(observation('o1', 'p1', 72));
  indexText(index, numbering);
  indexText(index, numbering); // numbers everything; its answer is lost
  const third = indexText(index, numbering);
  t.ok(third.parts!.ids.every((id) => id >= 0), 'every part is numbered by now');
  const read = readIndexText(third, shared);
  t.strictSame(read, index);
  t.equal(readIndexText(indexText(index, numbering), shared).idx.code, read.idx.code);
});

t.test('a parameter name JSON would escape: the text is parsed whole', async (t) => {
  const index: ExtractedIndex = { idx: { 'odd"name': [{ c: 'x' }], code: [{ c: 'y' }] }, srt: {}, comp: ['Patient/p1'] };
  const written = indexText(index, new ValueNumbering());
  t.equal(written.parts, undefined);
  t.equal(written.text, JSON.stringify(index));
  t.strictSame(readIndexText(written, new SharedIndexValues()), index);
});

t.test('past its bounds the numbering starts a new round, and the receiver follows', async (t) => {
  const numbering = new ValueNumbering();
  const shared = new SharedIndexValues();
  const index = (i: number): ExtractedIndex => ({ idx: { code: [{ c: `code-${i}` }] }, srt: {}, comp: [] });
  const read = (i: number) => readIndexText(indexText(index(i), numbering), shared);
  const early = read(0);
  t.equal(read(0).idx.code, read(0).idx.code, 'shared in the first round');
  t.not(read(0).idx.code, early.idx.code, 'the first sighting kept its own copy');
  // Enough values met twice to fill the first round's numbers.
  for (let i = 1; i <= 60_000; i++) {
    indexText(index(i), numbering);
    read(i);
  }
  t.ok(numbering.round > 0, 'a new round began');
  for (const i of [0, 7, 59_999, 60_000]) t.strictSame(read(i).idx.code, [{ c: `code-${i}` }], `code-${i} still reads as its text says`);
  const long: ExtractedIndex = { idx: { text: [{ t: 'x'.repeat(600) }] }, srt: {}, comp: [] };
  const written = [indexText(long, numbering), indexText(long, numbering), indexText(long, numbering)];
  t.same(written.map((w) => w.parts!.ids[0]), [-1, -1, -1], 'long texts are never numbered');
});

t.test('the string pool leaves shared values as they are', async (t) => {
  const { send } = channel();
  const pool = new StringPool();
  const records = ['o1', 'o2', 'o3'].map((id): VersionRecord => ({
    type: 'Observation', id, vid: 1, ts: 0, lastUpdated: '', hk: '', deleted: false, json: '{}', method: 'POST',
    ...send(observation(id, 'p1', 72)),
  }));
  for (const record of records) t.doesNotThrow(() => pool.internRecord(record), `${record.id} interned`);
  t.equal(records[2]!.idx.code, records[1]!.idx.code);
  t.strictSame(records[2]!.idx, extractIndex(observation('o3', 'p1', 72)).idx);
});

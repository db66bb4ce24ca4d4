import type { Resource } from '@medplum/fhirtypes';
import t from 'tap';
import { extractIndex } from '../../src/fhir/search/extract.js';
import type { ExtractedIndex } from '../../src/fhir/search/extract.js';
import type { VersionRecord } from '../../src/store/engine.js';
import { StringPool } from '../../src/store/embedded/string-pool.js';
import { indexText, readIndexText, SharedIndexValues } from '../../src/store/index-text.js';
import { heartRate } from '../fixtures/heart-rate.js';

function observation(id: string, patient: string, value: number): Resource {
  return { ...heartRate, id, subject: { reference: `Patient/${patient}` }, valueQuantity: { ...heartRate.valueQuantity, value } } as Resource;
}

t.test('the text is what JSON.stringify gives, and reads back to the same index', async (t) => {
  const shared = new SharedIndexValues();
  const samples: ExtractedIndex[] = [
    extractIndex(observation('o1', 'p1', 72)),
    extractIndex({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Martin', given: ['Léa'] }], birthDate: '1980-02-29' }),
    { idx: {}, srt: {}, comp: [] },
  ];
  for (const index of samples) {
    const written = indexText(index);
    t.equal(written.text, JSON.stringify(index), 'the journal and the worker keep the text they always had');
    t.ok(written.spans, 'with where its parts lie');
    t.strictSame(readIndexText(written, shared), index);
    t.strictSame(readIndexText(written, shared), index, 'and again, from shared values');
  }
});

t.test('a value seen twice is shared, frozen, by every later index that holds it', async (t) => {
  const shared = new SharedIndexValues();
  const once = shared.value('[{"c":"final"}]');
  t.notOk(Object.isFrozen(once), 'seen once: an ordinary value, whose version may still intern its strings');
  t.equal(shared.value('[{"c":"final"}]'), once, 'seen twice: the same value');
  t.ok(Object.isFrozen(once), 'now frozen');
  const read = (resource: Resource) => readIndexText(indexText(extractIndex(resource)), shared);
  const first = read(observation('o1', 'p1', 72));
  t.equal(first.idx['combo-code'], first.idx.code, 'equal values within one index are shared as well');
  t.equal(first.idx.status, once, 'and with what came before');
  const second = read(observation('o2', 'p1', 80));
  const third = read(observation('o3', 'p2', 72));
  t.equal(second.idx.code, first.idx.code, 'the same code: one copy');
  t.equal(third.idx.code, first.idx.code);
  t.ok(Object.isFrozen(first.idx.code) && Object.isFrozen(first.idx.code![0]), 'frozen, deeply, once shared');
  t.throws(() => (first.idx.code as unknown[]).push({}), TypeError, 'so that nobody changes what other versions hold');
  t.equal(second.comp, first.comp, 'the compartment list of one patient is shared too');
  t.not(third.comp, first.comp, 'another patient has a list of their own');
  t.not(second.idx['value-quantity'], first.idx['value-quantity'], 'a different value is not shared');
  t.equal(third.idx['value-quantity'], first.idx['value-quantity'], 'an equal one is');
  t.not(second.srt, first.srt, 'sort keys are never shared');
});

t.test('a parameter name JSON would escape gives no spans: the text is parsed whole', async (t) => {
  const index: ExtractedIndex = { idx: { 'odd"name': [{ c: 'x' }], code: [{ c: 'y' }] }, srt: {}, comp: ['Patient/p1'] };
  const written = indexText(index);
  t.equal(written.spans, undefined);
  t.equal(written.text, JSON.stringify(index));
  t.strictSame(readIndexText(written, new SharedIndexValues()), index);
});

t.test('the tables start again when full, without changing any answer', async (t) => {
  const shared = new SharedIndexValues();
  const texts = Array.from({ length: 120_000 }, (_, i) => `[{"c":"code-${i}"}]`);
  for (const text of texts) shared.value(text);
  // Past both bounds: every value still reads as its text says.
  for (const i of [0, 59_999, 119_999]) t.strictSame(shared.value(texts[i]!), [{ c: `code-${i}` }]);
  const long = `[{"t":"${'x'.repeat(600)}"}]`;
  t.not(shared.value(long), shared.value(long), 'long texts are parsed each time, never kept');
});

t.test('the string pool leaves shared values as they are', async (t) => {
  const shared = new SharedIndexValues();
  const pool = new StringPool();
  const records = ['o1', 'o2', 'o3'].map((id): VersionRecord => ({
    type: 'Observation', id, vid: 1, ts: 0, lastUpdated: '', hk: '', deleted: false, json: '{}', method: 'POST',
    ...readIndexText(indexText(extractIndex(observation(id, 'p1', 72))), shared),
  }));
  for (const record of records) t.doesNotThrow(() => pool.internRecord(record), `${record.id} interned`);
  t.equal(records[2]!.idx.code, records[0]!.idx.code);
  t.strictSame(records[2]!.idx, extractIndex(observation('o3', 'p1', 72)).idx);
});

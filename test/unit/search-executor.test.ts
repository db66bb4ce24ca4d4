import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { BadRequestError } from '../../src/errors.js';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { executeSearch } from '../../src/store/search-executor.js';
import type { ExecuteOptions } from '../../src/store/search-executor.js';
import type { CorpusEntry } from '../fixtures/search/corpus.js';
import { engineWith, recordOf } from '../fixtures/search/load.js';

const OPTIONS = { strict: true, defaultCount: 20, maxCount: 1000 };
const T0 = Date.UTC(2025, 0, 1);

function entries(resources: Resource[]): CorpusEntry[] {
  return resources.map((resource, i) => ({ resource: resource as unknown as Record<string, unknown>, ts: T0 + i * 1000 }));
}

function weights(patient: string, n: number, from = 0): Resource[] {
  return Array.from({ length: n }, (_, i) => ({
    resourceType: 'Observation', id: `w-${patient}-${from + i}`, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `2024-01-${String(1 + ((from + i) % 28)).padStart(2, '0')}`,
    valueQuantity: { value: 60 + ((from + i) % 30), unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    ...(i % 4 === 3 ? { effectiveDateTime: undefined } : {}),
  } as Resource));
}

async function search(engine: StoreEngine, type: string, query: Array<[string, string]>, options?: ExecuteOptions) {
  return executeSearch(engine, parseSearchRequest([type], query, OPTIONS), options);
}

async function allPages(engine: StoreEngine, type: string, query: Array<[string, string]>, between?: (page: number) => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await search(engine, type, cursor ? [...query, ['_cursor', cursor]] : query);
    ids.push(...res.matches.map((m) => m.id));
    if (!res.next) return ids;
    cursor = res.next;
    await between?.(page);
  }
  throw new Error('too many pages');
}

t.test('keyset paging: every entry once, in sort order, while data changes between pages', async (t) => {
  const engine = await engineWith(t, entries([{ resourceType: 'Patient', id: 'a' } as Resource, ...weights('a', 40)]));
  const sorted = await allPages(engine, 'Observation', [['_sort', '-date'], ['_count', '40']]);
  const paged = await allPages(engine, 'Observation', [['_sort', '-date'], ['_count', '6']], async (page) => {
    // New resources sorting after the current position must not shift anything already served.
    await engine.commit(weights('a', 1, 1000 + page).map((r) => ({ expectVid: 0, record: recordOf({ ...r, effectiveDateTime: '2020-01-01' } as Resource, T0 + 100_000 + page) })));
  });
  const original = new Set(sorted);
  t.same(paged.filter((id) => original.has(id)), sorted, 'the original entries come in the same order, none skipped or repeated');
  t.equal(new Set(paged).size, paged.length, 'no repeats');
  t.ok(paged.length > sorted.length, 'later inserts that sort after the position are served too');

  const withoutDate = sorted.filter((id) => Number(id.split('-').pop()) % 4 === 3);
  t.same(sorted.slice(-withoutDate.length), withoutDate, 'resources without a date come last');

  const bySeveral = await allPages(engine, 'Observation', [['_sort', 'value-quantity,-_id'], ['_count', '7']]);
  const expected = (await search(engine, 'Observation', [['_sort', 'value-quantity,-_id'], ['_count', '1000']])).matches.map((m) => m.id);
  t.same(bySeveral, expected, 'several sort keys page the same as one big page');
});

t.test('previous links walk back to the same pages', async (t) => {
  const engine = await engineWith(t, entries(weights('a', 17)));
  const first = await search(engine, 'Observation', [['_count', '5'], ['_sort', 'date']]);
  t.notOk(first.previous, 'no previous on the first page');
  const second = await search(engine, 'Observation', [['_count', '5'], ['_sort', 'date'], ['_cursor', first.next!]]);
  const third = await search(engine, 'Observation', [['_count', '5'], ['_sort', 'date'], ['_cursor', second.next!]]);
  const back = await search(engine, 'Observation', [['_count', '5'], ['_sort', 'date'], ['_cursor', third.previous!]]);
  t.same(back.matches.map((m) => m.id), second.matches.map((m) => m.id));
  const backAgain = await search(engine, 'Observation', [['_count', '5'], ['_sort', 'date'], ['_cursor', back.previous!]]);
  t.same(backAgain.matches.map((m) => m.id), first.matches.map((m) => m.id));
  t.notOk(backAgain.previous, 'back at the start');
  t.ok(backAgain.next);
});

t.test('cursor tokens are checked', async (t) => {
  const engine = await engineWith(t, entries(weights('a', 5)));
  const first = await search(engine, 'Observation', [['_count', '2'], ['_sort', 'date']]);
  await t.rejects(search(engine, 'Observation', [['_count', '2'], ['_sort', '-date'], ['_cursor', first.next!]]), BadRequestError, 'a cursor of another sort');
  await t.rejects(search(engine, 'Observation', [['_cursor', 'not-a-cursor']]), BadRequestError);
});

t.test('totals and _summary=count', async (t) => {
  const engine = await engineWith(t, entries([...weights('a', 12), ...weights('b', 3)]));
  t.equal((await search(engine, 'Observation', [['patient', 'b']])).total, 3, 'a first page holding everything knows its total');
  const paged = await search(engine, 'Observation', [['_count', '5']]);
  t.equal(paged.total, undefined, 'no count unless asked when there are more pages');
  t.equal((await search(engine, 'Observation', [['_count', '5'], ['_total', 'accurate']])).total, 15);
  t.equal((await search(engine, 'Observation', [['_count', '5'], ['_total', 'none'], ['patient', 'b']])).total, undefined);
  const count = await search(engine, 'Observation', [['_summary', 'count'], ['patient', 'a']]);
  t.equal(count.total, 12);
  t.same(count.matches, []);
  t.equal((await search(engine, 'Observation', [['_count', '0']])).total, 15);
});

t.test('restrict: policy filters apply to matches, counts, chains, _has and includes', async (t) => {
  const engine = await engineWith(t, entries([
    { resourceType: 'Patient', id: 'a', name: [{ family: 'Dupré' }] } as Resource,
    { resourceType: 'Patient', id: 'b', name: [{ family: 'Dupont' }] } as Resource,
    ...weights('a', 4), ...weights('b', 4),
  ]));
  const onlyA: ExecuteOptions = { restrict: () => ({ comp: 'Patient/a' }) };
  const res = await search(engine, 'Observation', [['_total', 'accurate'], ['_include', 'Observation:patient']], onlyA);
  t.same(res.matches.map((m) => m.id).sort(), weights('a', 4).map((r) => r.id).sort());
  t.equal(res.total, 4);
  t.same(res.included.map((m) => m.id), ['a'], 'only the visible patient is included');
  const chained = await search(engine, 'Observation', [['patient.family', 'dup']], { restrict: (type) => (type === 'Patient' ? { id: 'b' } : {}) });
  t.same(new Set(chained.matches.map((m) => m.id)), new Set(weights('b', 4).map((r) => r.id)), 'the chain only sees the patients the caller may see');
  const has = await search(engine, 'Patient', [['_has:Observation:patient:code', '29463-7']], { restrict: (type) => (type === 'Observation' ? { comp: 'Patient/b' } : {}) });
  t.same(has.matches.map((m) => m.id), ['b'], '_has only counts visible resources');
  const hidden = await search(engine, 'Observation', [['_total', 'accurate']], { restrict: () => null });
  t.same(hidden.matches, []);
  t.equal(hidden.total, 0);
  const noPatients = await search(engine, 'Observation', [['_include', 'Observation:patient'], ['patient', 'a']], { restrict: (type) => (type === 'Patient' ? null : {}) });
  t.equal(noPatients.matches.length, 4);
  t.same(noPatients.included, [], 'a hidden type is never included');
});

t.test('_include, _include:iterate, _revinclude and wildcards', async (t) => {
  const engine = await engineWith(t, entries([
    { resourceType: 'Organization', id: 'org' } as Resource,
    { resourceType: 'Practitioner', id: 'gp' } as Resource,
    { resourceType: 'Patient', id: 'a', generalPractitioner: [{ reference: 'Practitioner/gp' }], managingOrganization: { reference: 'Organization/org' } } as Resource,
    ...weights('a', 2),
    { resourceType: 'Provenance', id: 'prov', target: [{ reference: 'Observation/w-a-0' }], recorded: '2024-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/gp' } }] } as Resource,
  ]));
  const plain = await search(engine, 'Observation', [['_include', 'Observation:patient']]);
  t.same(plain.included.map((r) => r.id), ['a']);
  const iterate = await search(engine, 'Observation', [['_include', 'Observation:patient'], ['_include:iterate', 'Patient:general-practitioner']]);
  t.same(iterate.included.map((r) => `${r.type}/${r.id}`).sort(), ['Patient/a', 'Practitioner/gp']);
  const typed = await search(engine, 'Observation', [['_include', 'Observation:subject:Group']]);
  t.same(typed.included, [], 'the target type restricts');
  const wildcard = await search(engine, 'Patient', [['_include', '*']]);
  t.same(wildcard.included.map((r) => `${r.type}/${r.id}`).sort(), ['Organization/org', 'Practitioner/gp']);
  const rev = await search(engine, 'Patient', [['_revinclude', 'Observation:patient'], ['_revinclude:iterate', 'Provenance:target']]);
  t.same(rev.included.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/w-a-0', 'Observation/w-a-1', 'Provenance/prov']);
  const everything = await search(engine, 'Practitioner', [['_revinclude', '*']]);
  t.same(everything.included.map((r) => `${r.type}/${r.id}`).sort(), ['Patient/a', 'Provenance/prov'], '_revinclude=*: every type, every reference parameter');
  const iterated = await search(engine, 'Organization', [['_revinclude', '*'], ['_revinclude:iterate', '*']]);
  t.same(iterated.included.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/w-a-0', 'Observation/w-a-1', 'Patient/a', 'Provenance/prov'], '_revinclude:iterate=* follows on');
  const hidden = await search(engine, 'Practitioner', [['_revinclude', '*']], { restrict: (type) => (type === 'Provenance' ? null : {}) });
  t.same(hidden.included.map((r) => `${r.type}/${r.id}`), ['Patient/a'], 'the policy still hides what the caller may not see');
});

t.test('absolute references to our base are local on both sides', async (t) => {
  const engine = await engineWith(t, entries(weights('a', 2)));
  const req = parseSearchRequest(['Observation'], [['subject', 'https://carnet.example/fhir/Patient/a']], { ...OPTIONS, baseUrl: 'https://carnet.example/fhir' });
  t.equal((await executeSearch(engine, req)).matches.length, 2);
});

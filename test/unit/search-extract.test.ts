import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { compileTypedFhirPath } from '../../src/fhir/fhirpath.js';
import { extractIndex } from '../../src/fhir/search/extract.js';
import { dateRange, foldString, MAX_DATE_MS } from '../../src/fhir/search/normalize.js';
import { indexedSearchParams } from '../../src/fhir/search/params.js';
import { compileSimplePath } from '../../src/fhir/search/simple-path.js';
import { buildCorpus } from '../fixtures/search/corpus.js';

t.test('strings are folded for case and accents, the exact text kept', async (t) => {
  t.equal(foldString('  Hélène  ŒILLET '), 'helene oeillet');
  t.equal(foldString('Besançon'), 'besancon');
  const { idx } = extractIndex({ resourceType: 'Patient', id: 'p', name: [{ family: 'Dupré', given: ['Zoé', 'Maëlle'], prefix: ['Mme'] }] } as Resource);
  t.same(idx.family, [{ f: 'dupre', x: 'Dupré' }]);
  t.same(idx.given, [{ f: 'zoe', x: 'Zoé' }, { f: 'maelle', x: 'Maëlle' }]);
  t.same((idx.name as Array<{ f: string }>).map((v) => v.f), ['dupre', 'zoe', 'maelle', 'mme'], 'name covers every part');
});

t.test('dates become ranges honouring precision and zones', async (t) => {
  t.same(dateRange('2024'), { lo: Date.UTC(2024, 0, 1), hi: Date.UTC(2025, 0, 1) - 1 });
  t.same(dateRange('2024-02'), { lo: Date.UTC(2024, 1, 1), hi: Date.UTC(2024, 2, 1) - 1 });
  t.same(dateRange('2024-12-31'), { lo: Date.UTC(2024, 11, 31), hi: Date.UTC(2025, 0, 1) - 1 });
  t.same(dateRange('2024-03-01T10:00:00+02:00'), { lo: Date.UTC(2024, 2, 1, 8), hi: Date.UTC(2024, 2, 1, 8) + 999 });
  t.same(dateRange('2024-03-01T10:00:00.25Z'), { lo: Date.UTC(2024, 2, 1, 10, 0, 0, 250), hi: Date.UTC(2024, 2, 1, 10, 0, 0, 259) });
  t.same(dateRange('2024-03-01T10:00'), { lo: Date.UTC(2024, 2, 1, 10), hi: Date.UTC(2024, 2, 1, 10, 1) - 1 }, 'minutes in queries');
  t.equal(dateRange('2023-02-29'), undefined);
  t.equal(dateRange('2024-1-01'), undefined);
  const { idx } = extractIndex({ resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, effectivePeriod: { start: '2024-05' } } as Resource);
  t.same(idx.date, [{ lo: Date.UTC(2024, 4, 1), hi: MAX_DATE_MS }], 'an open period runs on');
});

t.test('tokens, references, quantities, composites, meta and compartments', async (t) => {
  const obs = {
    resourceType: 'Observation', id: 'bp', status: 'final',
    meta: { tag: [{ system: 'urn:t', code: 'x' }], profile: ['http://hl7.org/fhir/StructureDefinition/vitalsigns'], security: [{ system: 'urn:s', code: 'R' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure' }], text: 'Tension' },
    subject: { reference: 'Patient/p1/_history/3' },
    performer: [{ reference: 'Practitioner/d1' }, { reference: 'Patient/p2' }],
    effectiveDateTime: '2023-05-01T10:00:00+02:00',
    component: [
      { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80.5, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    ],
  } as Resource;
  const { idx, srt, comp } = extractIndex(obs);
  // :text matches the text or the display: the display behind the text has an entry of its own.
  t.same(idx.code, [{ s: 'http://loinc.org', c: '85354-9', sc: 'http://loinc.org|85354-9', t: 'tension' }, { t: 'blood pressure' }]);
  t.same(idx.status, [{ c: 'final' }]);
  t.same(idx.subject, [{ r: 'Patient/p1', t: 'Patient', i: 'p1' }], '_history is dropped');
  t.same(idx.patient, idx.subject, 'the shared patient expression, specialised to Observation');
  t.same(idx._tag, [{ s: 'urn:t', c: 'x', sc: 'urn:t|x' }]);
  t.same(idx._security, [{ s: 'urn:s', c: 'R', sc: 'urn:s|R' }]);
  t.same(idx._profile, [{ u: 'http://hl7.org/fhir/StructureDefinition/vitalsigns' }]);
  t.match(idx['component-value-quantity'], [{ n: 120, lo: 119.5, hi: 120.5, c: 'mm[Hg]' }, { n: 80.5, lo: 80.45, hi: 80.55 }]);
  t.match(idx['component-code-value-quantity'], [
    { c0: [{ sc: 'http://loinc.org|8480-6' }], c1: [{ n: 120 }] },
    { c0: [{ sc: 'http://loinc.org|8462-4' }], c1: [{ n: 80.5 }] },
  ]);
  t.equal(idx['value-quantity'], undefined, 'absent values are left out (:missing)');
  t.equal(idx._id, undefined, '_id is the record field');
  t.equal(srt['component-value-quantity'], 80.5);
  t.equal(srt['-component-value-quantity'], 120);
  t.same(comp.sort(), ['Patient/p1', 'Patient/p2'], 'subject and performer put it in both patients\' compartments');
  const patient = extractIndex({ resourceType: 'Patient', id: 'p9', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '1', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NH' }] } }], telecom: [{ system: 'phone', value: '0601' }], active: true } as Resource);
  t.same(patient.comp, ['Patient/p9']);
  t.same(patient.idx.identifier, [{ s: 'urn:oid:1.2.250.1.213.1.4.8', c: '1', sc: 'urn:oid:1.2.250.1.213.1.4.8|1', ty: ['http://terminology.hl7.org/CodeSystem/v2-0203|NH'] }]);
  t.same(patient.idx.phone, [{ c: '0601' }]);
  t.same(patient.idx.active, [{ c: 'true' }]);
  const absolute = extractIndex({ resourceType: 'Observation', id: 'x', status: 'final', code: {}, subject: { reference: 'https://carnet.example/fhir/Patient/p3' } } as Resource, { baseUrl: 'https://carnet.example/fhir' });
  t.same(absolute.idx.subject, [{ r: 'Patient/p3', t: 'Patient', i: 'p3' }]);
  t.same(absolute.comp, ['Patient/p3']);
  t.same(absolute.idx.patient, [{ r: 'Patient/p3', t: 'Patient', i: 'p3' }], 'resolve() is Patient sees the local form too');
  const written = { resourceType: 'Observation', id: 'y', status: 'final', code: {}, subject: { reference: 'https://carnet.example/fhir/Patient/p4' }, performer: [{ reference: 'Practitioner/d1' }] } as Resource;
  const copy = structuredClone(written);
  t.same(extractIndex(written, { baseUrl: 'https://carnet.example/fhir' }).idx.patient, [{ r: 'Patient/p4', t: 'Patient', i: 'p4' }]);
  t.same(written, copy, 'the resource itself is left as written');
  const remote = extractIndex({ ...copy, subject: { reference: 'https://elsewhere.example/fhir/Patient/p4' } } as Resource, { baseUrl: 'https://carnet.example/fhir' });
  t.same(remote.comp, [], 'a reference to another server stays remote');
});

t.test('the fast path gives the same nodes as fhirpath.js on every parameter of the corpus', async (t) => {
  const corpus = buildCorpus().map((e) => e.resource as unknown as Resource);
  let compared = 0;
  let fast = 0;
  const types = new Set(corpus.map((r) => r.resourceType));
  for (const type of types) {
    for (const def of indexedSearchParams(type)) {
      const simple = compileSimplePath(def.expression!);
      if (!simple) continue;
      fast++;
      const reference = compileTypedFhirPath(def.expression!);
      for (const r of corpus.filter((x) => x.resourceType === type)) {
        const a = simple(r).map((n) => [n.type, JSON.stringify(n.value)]);
        const b = reference(r).map((n) => [n.type, JSON.stringify(n.value)]);
        compared++;
        if (JSON.stringify(a) !== JSON.stringify(b)) t.same(a, b, `${type}.${def.code} on ${r.id}`);
      }
    }
  }
  t.ok(fast > 50 && compared > 1000, `${fast} expressions compared on ${compared} resource evaluations`);
});

t.test('many repeats of one value are indexed once', async (t) => {
  const given = [...Array.from({ length: 1000 }, () => 'ab'), 'cd', 'ab'];
  const { idx } = extractIndex({ resourceType: 'Patient', name: [{ family: 'Large', given }] } as Resource);
  t.equal(idx.given?.length, 2, `1,002 given names, 2 distinct: ${idx.given?.length} indexed`);
  t.same(idx.given, [{ f: 'ab', x: 'ab' }, { f: 'cd', x: 'cd' }], 'each once, in the order first met');
  const few = extractIndex({ resourceType: 'Patient', name: [{ given: ['Léa', 'Léa'] }] } as Resource).idx;
  t.same(few.given, [{ f: 'lea', x: 'Léa' }, { f: 'lea', x: 'Léa' }], 'a few repeats are left as they are (looking for them would cost every write)');
});

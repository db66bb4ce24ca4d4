import t from 'tap';
import { getSearchParam, indexedSearchParams, listSearchParams, registerSearchParameter, rewriteAs, rewriteResolve, splitUnion } from '../../src/fhir/search/params.js';
import { extractIndex } from '../../src/fhir/search/extract.js';
import type { Resource } from '@medplum/fhirtypes';

t.test('shared R4 expressions are specialised per type', async (t) => {
  const obs = getSearchParam('Observation', 'patient')!;
  t.equal(obs.expression, "Observation.subject.where(reference.startsWith('Patient/'))");
  t.equal(obs.type, 'reference');
  t.same(obs.targets, ['Patient']);
  t.equal(getSearchParam('AllergyIntolerance', 'patient')!.expression, 'AllergyIntolerance.patient');
  t.equal(getSearchParam('Observation', 'value-quantity')!.expression, 'Observation.value.ofType(Quantity) | Observation.value.ofType(SampledData)');
  t.equal(getSearchParam('Observation', '_tag')!.expression, 'Observation.meta.tag', 'Resource-level parameters apply to every type');
  t.equal(getSearchParam('Patient', 'nonsense'), undefined);
  t.equal(getSearchParam('Patient', 'code'), undefined, 'a parameter of other types only');
});

t.test('expression rewriting', async (t) => {
  t.same(splitUnion("A.b | (A.c as X) | A.d.where(system='a|b')"), ['A.b', '(A.c as X)', "A.d.where(system='a|b')"]);
  t.equal(rewriteResolve('X.subject.where(resolve() is Patient)'), "X.subject.where(reference.startsWith('Patient/'))");
  t.equal(rewriteAs('(Observation.component.value as Quantity)'), 'Observation.component.value.ofType(Quantity)');
  t.equal(rewriteAs('Observation.value.as(Quantity)'), 'Observation.value.ofType(Quantity)');
});

t.test('listSearchParams describes a type for the CapabilityStatement', async (t) => {
  const list = listSearchParams('DocumentReference');
  const byCode = new Map(list.map((p) => [p.code, p]));
  for (const code of ['patient', 'subject', 'type', 'category', 'date', 'security-label', 'status', 'author', '_id', '_lastUpdated', '_tag']) {
    t.ok(byCode.has(code), code);
  }
  t.match(byCode.get('security-label'), { type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/DocumentReference-security-label' });
  t.notOk(byCode.has('_text') && byCode.get('_text')!.type === undefined);
  t.same(list.map((p) => p.code), [...list.map((p) => p.code)].sort(), 'sorted by code');
});

t.test('a registered SearchParameter is indexed and searchable', async (t) => {
  registerSearchParameter({
    resourceType: 'SearchParameter', url: 'https://carnet.dev/fhir/SearchParameter/DocumentReference-is-archived', name: 'isArchived', status: 'active',
    description: 'Archived documents', code: 'is-archived', base: ['DocumentReference'], type: 'token',
    expression: "DocumentReference.extension.where(url='https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/isArchived').value",
  });
  t.ok(indexedSearchParams('DocumentReference').some((d) => d.code === 'is-archived'));
  const { idx } = extractIndex({
    resourceType: 'DocumentReference', id: 'd', status: 'current', content: [{ attachment: {} }],
    extension: [{ url: 'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/isArchived', valueBoolean: true }],
  } as Resource);
  t.same(idx['is-archived'], [{ c: 'true' }]);
});

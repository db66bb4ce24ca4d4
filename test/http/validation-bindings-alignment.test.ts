import t from 'tap';
import type { Test } from 'tap';
import { buildTestServer } from '../helpers/server.js';

// Three ways a resource got stored though R4 refuses it (exploratory findings):
// - a required binding on a CodeableConcept met by text alone, or by a code without its system
//   (terminologies.html#required: the concept SHALL come from the value set);
// - a choice element holding two types when one is written only as its `_` twin
//   (`valueQuantity` + `_valueString`);
// - primitive extensions that break R4 JSON (json.html#primitive) or ele-1: an id alone on a
//   primitive with no value, a `_` array longer or shorter than its value array.
// Each is refused, names the element, and stores nothing; the valid neighbours still pass.
const FHIR = 'application/fhir+json';
const PATCH = 'application/json-patch+json';
const ext = [{ url: 'https://example.org/fhir/StructureDefinition/origin', valueString: 'birth certificate' }];
const absent = [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }];
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const VITAL_SIGN = 'https://carnet.dev/fhir/StructureDefinition/carnet-vital-sign';
const DOCUMENT = 'https://carnet.dev/fhir/StructureDefinition/carnet-document';
const VISIBILITY = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument';

interface Issue { severity: string; code: string; expression?: string[]; diagnostics?: string }

t.test('required bindings, choice twins and primitive alignment', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const headers = { authorization, 'content-type': FHIR };
  const send = (method: 'POST' | 'PUT', url: string, payload: unknown) => app.inject({ method, url: `/fhir/${url}`, headers, payload: JSON.stringify(payload) });
  const post = (type: string, payload: unknown) => send('POST', type, payload);
  const get = (url: string) => app.inject({ method: 'GET', url: `/fhir/${url}`, headers: { authorization } });
  const count = async (type: string): Promise<number> => (await get(`${type}?_summary=count`)).json().total as number;

  const patient = await post('Patient', { resourceType: 'Patient', name: [{ family: 'Durand' }] });
  t.equal(patient.statusCode, 201, patient.body);
  const subject = { reference: `Patient/${patient.json().id as string}` };

  /** Refused with `status`, an error at `at` (and `code`, `diagnostics` when given), nothing more stored; $validate says the same. */
  async function refused(t: Test, type: string, body: unknown, status: number, at: string, code: string, diagnostics?: RegExp): Promise<void> {
    const before = await count(type);
    const res = await post(type, body);
    t.equal(res.statusCode, status, `${at}: ${res.body}`);
    t.match(res.headers['content-type'], /application\/fhir\+json/);
    const issues = (res.json().issue ?? []) as Issue[];
    const found = issues.find((i) => i.severity === 'error' && i.expression?.[0] === at);
    t.ok(found, `an error at ${at}: ${res.body}`);
    t.equal(found?.code, code, `issue code at ${at}`);
    if (diagnostics) t.match(found?.diagnostics, diagnostics);
    t.equal(await count(type), before, 'nothing stored');
    const validated = await post(`${type}/$validate`, body);
    t.equal(validated.statusCode, 200);
    t.ok((validated.json().issue as Issue[]).some((i) => i.severity === 'error' && i.expression?.[0] === at), '$validate reports it too');
  }

  async function accepted(t: Test, type: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await post(type, body);
    t.equal(res.statusCode, 201, res.body);
    return res.json() as Record<string, unknown>;
  }

  t.test('A. a required binding on a CodeableConcept needs a coding, with its system, from the value set', async (t) => {
    const allergy = (clinicalStatus: unknown) => ({ resourceType: 'AllergyIntolerance', patient: subject, clinicalStatus });
    // Base R4: AllergyIntolerance.clinicalStatus is bound (required) to allergyintolerance-clinical.
    await refused(t, 'AllergyIntolerance', allergy({ text: 'whatever' }), 422, 'AllergyIntolerance.clinicalStatus', 'code-invalid', /no code from the required value set/);
    await refused(t, 'AllergyIntolerance', allergy({ coding: [{ code: 'active' }] }), 422, 'AllergyIntolerance.clinicalStatus', 'code-invalid', /needs its system/);
    await refused(t, 'AllergyIntolerance', allergy({ text: 'active', coding: [{ system: 'http://snomed.info/sct', code: '55561003' }] }),
      422, 'AllergyIntolerance.clinicalStatus', 'code-invalid');
    // The same in a contained resource, and in a Condition.
    await refused(t, 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'reaction' }, subject,
      focus: [{ reference: '#c' }], contained: [{ resourceType: 'Condition', id: 'c', subject, clinicalStatus: { text: 'active' } }] },
    422, 'Observation.contained[0].clinicalStatus', 'code-invalid');

    // Neighbours: text beside a coding of the value set; a code among others; an extensible binding met by text alone.
    await accepted(t, 'AllergyIntolerance', allergy({ text: 'active', coding: [{ system: CLINICAL, code: 'active' }] }));
    await accepted(t, 'AllergyIntolerance', allergy({ coding: [{ system: 'http://snomed.info/sct', code: '55561003' }, { system: CLINICAL, code: 'active' }] }));
    await accepted(t, 'AllergyIntolerance', { ...allergy({ coding: [{ system: CLINICAL, code: 'active' }] }), code: { text: 'pollen' } });
  });

  t.test('A. the same for the required bindings of the profiles in fhir-profiles/', async (t) => {
    const vitalSign = (code: unknown) => ({ resourceType: 'Observation', meta: { profile: [VITAL_SIGN] }, status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code, subject, effectiveDateTime: '2024-01-01', valueQuantity: { value: 70, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } });
    await refused(t, 'Observation', vitalSign({ text: 'poids' }), 422, 'Observation.code', 'code-invalid', /carnet-vital-sign-code required by/);
    await refused(t, 'Observation', vitalSign({ coding: [{ code: '29463-7' }] }), 422, 'Observation.code', 'code-invalid', /needs its system/);
    await accepted(t, 'Observation', vitalSign({ text: 'poids', coding: [{ system: 'http://loinc.org', code: '29463-7' }] }));

    const binary = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'text/plain' }, payload: 'compte rendu' });
    t.equal(binary.statusCode, 201, binary.body);
    const document = (extra: Record<string, unknown>) => ({ resourceType: 'DocumentReference', meta: { profile: [DOCUMENT] }, status: 'current',
      type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] }, subject, date: '2024-01-01T00:00:00Z', author: [{ display: 'Dr Martin' }],
      content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binary.json().id as string}` } }], ...extra });
    await refused(t, 'DocumentReference', document({ type: { text: 'lettre' } }), 422, 'DocumentReference.type', 'code-invalid');
    await refused(t, 'DocumentReference', document({ type: { coding: [{ code: '11488-4' }] } }), 422, 'DocumentReference.type', 'code-invalid', /needs its system/);
    // (securityLabel, bound the same way, is in test/unit/validation-bindings-alignment.test.ts: the document rules judge a visibility label before the validator.)
    await accepted(t, 'DocumentReference', document({ type: { text: 'consultation', coding: [{ system: 'http://loinc.org', code: '11488-4' }] },
      securityLabel: [{ text: 'masqué', coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }] }));
  });

  t.test('B. a choice element holds one type, also when one is written only as its _ twin', async (t) => {
    const observation = (value: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject, ...value });
    await refused(t, 'Observation', observation({ valueQuantity: { value: 1 }, _valueString: { extension: absent } }), 422, 'Observation._valueString', 'structure', /Only one of valueQuantity and valueString/);
    await refused(t, 'Observation', observation({ _valueString: { extension: absent }, valueQuantity: { value: 1 } }), 422, 'Observation.valueQuantity', 'structure', /Only one of valueString and valueQuantity/);
    await refused(t, 'Patient', { resourceType: 'Patient', deceasedBoolean: true, _deceasedDateTime: { extension: ext } }, 422, 'Patient._deceasedDateTime', 'structure');
    await refused(t, 'Observation', observation({ valueQuantity: { value: 1 }, valueString: 'a' }), 422, 'Observation.valueString', 'structure');
    // A profile that allows only a Quantity refuses a string known only by its extensions, as it refuses valueString.
    const bodyWeight = { meta: { profile: ['http://hl7.org/fhir/StructureDefinition/bodyweight'] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, effectiveDateTime: '2024-01-01' };
    await refused(t, 'Observation', observation({ ...bodyWeight, _valueString: { extension: absent } }), 422, 'Observation._valueString', 'structure', /type String is not allowed by/);
    await accepted(t, 'Observation', observation({ ...bodyWeight, valueQuantity: { value: 70, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } }));

    await accepted(t, 'Observation', observation({ valueString: 'a', _valueString: { extension: ext } }));
    await accepted(t, 'Observation', observation({ _valueString: { extension: absent } }));
    await accepted(t, 'Patient', { resourceType: 'Patient', deceasedDateTime: '2020-01-01', _deceasedDateTime: { extension: ext } });
  });

  t.test('C. a primitive with no value needs an extension, and the _ array is as long as the value array', async (t) => {
    const named = (name: Record<string, unknown>) => ({ resourceType: 'Patient', name: [{ family: 'Martin', ...name }] });
    // ele-1: no value and only an id (422, as an empty element is).
    await refused(t, 'Patient', { resourceType: 'Patient', _birthDate: { id: 'x' } }, 422, 'Patient._birthDate', 'invariant', /ele-1/);
    await refused(t, 'Patient', named({ given: [null], _given: [{ id: 'x' }] }), 422, 'Patient.name[0]._given[0]', 'invariant', /ele-1/);
    await refused(t, 'Patient', named({ _given: [{ id: 'x' }] }), 422, 'Patient.name[0]._given[0]', 'invariant', /ele-1/);
    // Arrays of different lengths: not R4 JSON (400, as a stray null is).
    await refused(t, 'Patient', named({ given: ['a'], _given: [null, { id: 'x' }] }), 400, 'Patient.name[0]._given', 'structure', /same length/);
    await refused(t, 'Patient', named({ given: ['a'], _given: [null, { extension: ext }] }), 400, 'Patient.name[0]._given', 'structure', /same length/);
    await refused(t, 'Patient', named({ given: ['a', 'b'], _given: [{ id: 'x' }] }), 400, 'Patient.name[0]._given', 'structure', /same length/);

    await accepted(t, 'Patient', { resourceType: 'Patient', _birthDate: { extension: absent } });
    await accepted(t, 'Patient', { resourceType: 'Patient', birthDate: '1970-01-01', _birthDate: { id: 'b' } });
    await accepted(t, 'Patient', named({ given: ['a', 'b'], _given: [null, { id: 'g' }] }));
    await accepted(t, 'Patient', named({ given: [null, 'b'], _given: [{ extension: ext }, null] }));
    await accepted(t, 'Patient', named({ _given: [{ extension: ext }] }));
  });

  t.test('C. a PUT or a PATCH whose result misaligns the arrays is refused, and the stored version stays', async (t) => {
    const created = await accepted(t, 'Patient', { resourceType: 'Patient', name: [{ family: 'Petit', given: ['a', 'b'], _given: [null, { id: 'g' }] }] });
    const id = created.id as string;
    const patch = (ops: unknown) => app.inject({ method: 'PATCH', url: `/fhir/Patient/${id}`, headers: { authorization, 'content-type': PATCH }, payload: JSON.stringify(ops) });

    const removed = await patch([{ op: 'remove', path: '/name/0/given/1' }]);
    t.equal(removed.statusCode, 400, removed.body);
    t.match(removed.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', expression: ['Patient.name[0]._given'] }] });
    const idOnly = await patch([{ op: 'replace', path: '/name/0/given/1', value: null }]);
    t.equal(idOnly.statusCode, 422, idOnly.body);
    t.match(idOnly.json(), { issue: [{ severity: 'error', code: 'invariant', expression: ['Patient.name[0]._given[1]'] }] });
    const put = await send('PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Petit', given: ['a'], _given: [null, { id: 'g' }] }] });
    t.equal(put.statusCode, 400, put.body);

    const stored = await get(`Patient/${id}`);
    t.equal(stored.json().meta.versionId, (created.meta as { versionId: string }).versionId, 'no new version');
    t.same(stored.json().name, created.name);

    // Removing the value with its `_` item keeps the arrays aligned.
    const both = await patch([{ op: 'remove', path: '/name/0/_given' }, { op: 'remove', path: '/name/0/given/1' }]);
    t.equal(both.statusCode, 200, both.body);
    t.same(both.json().name[0], { family: 'Petit', given: ['a'] });
  });
});

t.test('with a write worker the answers are the same (the worker validates new resources)', async (t) => {
  const { app, auth } = await buildTestServer(t, { config: { writeWorkers: 1 } });
  await app.writeWorkers?.ready();
  t.equal(app.writeWorkers?.readyCount, 1);
  const headers = { authorization: await auth('system/*.cruds'), 'content-type': FHIR };
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: JSON.stringify(payload) });
  const misaligned = await post({ resourceType: 'Patient', name: [{ given: ['a'], _given: [null, { extension: ext }] }] });
  t.equal(misaligned.statusCode, 400, misaligned.body);
  t.match(misaligned.json(), { issue: [{ severity: 'error', code: 'structure', expression: ['Patient.name[0]._given'] }] });
  const idOnly = await post({ resourceType: 'Patient', _birthDate: { id: 'x' } });
  t.equal(idOnly.statusCode, 422, idOnly.body);
  t.match(idOnly.json(), { issue: [{ severity: 'error', code: 'invariant', expression: ['Patient._birthDate'] }] });
  const textOnly = await app.inject({ method: 'POST', url: '/fhir/Condition', headers,
    payload: JSON.stringify({ resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: { text: 'active' } }) });
  t.equal(textOnly.statusCode, 422, textOnly.body);
  t.match(textOnly.json(), { issue: [{ severity: 'error', code: 'code-invalid', expression: ['Condition.clinicalStatus'] }] });
  t.equal((await post({ resourceType: 'Patient', name: [{ given: ['a'], _given: [{ extension: ext }] }] })).statusCode, 201);
});

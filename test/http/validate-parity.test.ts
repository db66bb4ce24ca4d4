import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import type { DocumentReference, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { FHIR_JSON, buildSpace, document, holderBearer, observation, privacyConsent, professionalBearer } from '../helpers/people.js';
import { CLASS_SYSTEM, DOCPAT_SYSTEM } from '../fixtures/mhd/provide-bundle.js';

/*
 * $validate with a mode says what the write it stands for would answer, for
 * the same body and the same caller: refused with the write's own code, or
 * accepted as the write accepts it; and it writes nothing. Found by an
 * exploratory tester: it answered 405 at Binary/$validate and
 * Subscription/$validate, asked a resource for a delete, said "Nothing
 * prevents the delete" of a Binary a document uses or of an AuditEvent, said
 * All OK for bodies the write refuses (SUBSETTED, the server's audit tag, a
 * block naming another server's professional, class 90 claimed by a
 * professional, content that does not exist, a document change PUT refuses),
 * refused client meta the write replaces, and read only the first of two
 * resources.
 */

const ERRORS = new Set(['error', 'fatal']);
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const AUDIT_ORIGIN = { system: 'https://carnet.dev/fhir/CodeSystem/audit-origin', code: 'carnet' };

/** The error codes (details.coding) of an OperationOutcome answer. */
function errorCodes(res: LightMyRequestResponse): string[] {
  const body = res.json() as OperationOutcome;
  return (body.issue ?? []).filter((i) => ERRORS.has(i.severity)).map((i) => i.details?.coding?.[0]?.code ?? `(${i.code})`);
}

function params(mode: string, resource?: unknown): Record<string, unknown> {
  return { resourceType: 'Parameters', parameter: [...(resource ? [{ name: 'resource', resource }] : []), { name: 'mode', valueCode: mode }] };
}

function clientAuditEvent(tags: Array<{ system: string; code: string }> = []): Record<string, unknown> {
  return {
    resourceType: 'AuditEvent', ...(tags.length ? { meta: { tag: tags } } : {}),
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110' },
    recorded: '2024-01-01T00:00:00Z',
    agent: [{ requestor: true, who: { display: 'practice software' } }],
    source: { observer: { display: 'practice software' } },
  };
}

t.test('$validate says what the write it stands for would answer', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const doctor = await professionalBearer(app, space.users.doctor);
  const stranger = await professionalBearer(app, space.users.otherPro);
  const alice = await holderBearer(app, space.users.alice);
  const bob = await holderBearer(app, space.users.bob);

  const send = (authorization: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, contentType = FHIR_JSON) =>
    app.inject({
      method, url: `/fhir/${url}`,
      headers: { authorization, ...(payload !== undefined ? { 'content-type': contentType } : {}) },
      ...(payload !== undefined ? { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } : {}),
    });
  const created = async (authorization: string, type: string, payload: unknown, contentType = FHIR_JSON) => {
    const res = await send(authorization, 'POST', type, payload, contentType);
    if (res.statusCode !== 201) throw new Error(`seeding ${type}: ${res.statusCode} ${res.body}`);
    return (res.json() as { id: string }).id;
  };
  const blobs = async () => (await readdir(path.join(app.config.dataDir, 'blobs')).catch(() => [] as string[])).length;
  /** Sends a $validate and checks that it wrote nothing: no version (AuditEvents aside: a refusal is audited), no blob. */
  const validate = async (tt: Test, name: string, authorization: string, url: string, payload?: unknown) => {
    const before = await blobs();
    const since = Date.now() + 1;
    while (Date.now() < since) await new Promise((resolve) => setImmediate(resolve));
    const res = await send(authorization, 'POST', url, payload);
    const written = (await app.engine.history({ since, limit: 20 })).filter((r) => r.type !== 'AuditEvent').map((r) => `${r.method} ${r.type}/${r.id}/${r.vid}`);
    tt.same(written, [], `${name}: $validate wrote no version`);
    tt.equal(await blobs(), before, `${name}: $validate stored no bytes`);
    return res;
  };
  /** $validate's answer against the write's: the write's refusal code among its errors, or no error when the write succeeded. */
  const agree = (tt: Test, name: string, validated: LightMyRequestResponse, written: LightMyRequestResponse) => {
    tt.equal(validated.statusCode, 200, `${name}: $validate answers (${validated.body.slice(0, 300)})`);
    if (written.statusCode >= 400) {
      const code = errorCodes(written)[0];
      tt.ok(errorCodes(validated).includes(code!), `${name}: the write answers ${written.statusCode} ${code}; $validate says ${JSON.stringify(errorCodes(validated))}`);
    } else {
      tt.same(errorCodes(validated), [], `${name}: the write answers ${written.statusCode}; $validate says ${validated.body.slice(0, 300)}`);
      tt.match(validated.json(), { issue: [{ severity: 'information' }] });
    }
  };
  const sameAsRead = async (tt: Test, name: string, validated: LightMyRequestResponse, authorization: string, url: string) => {
    const read = await send(authorization, 'GET', url);
    tt.equal(validated.statusCode, read.statusCode, `${name}: answered as a read (${read.statusCode}): ${validated.body.slice(0, 200)}`);
    tt.same(errorCodes(validated), errorCodes(read), `${name}: with the read's code`);
  };

  const binary = (text: string) => created(system, 'Binary', text, 'text/plain');
  const documentOf = (binaryId: string, extra: Record<string, unknown> = {}) => ({
    ...document(space.alice, undefined, 'consultation'),
    content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binaryId}` } }],
    ...extra,
  });

  t.test('type-level $validate answers for Binary and Subscription too (it was a 405 saying it takes POST)', async (t) => {
    for (const [type, body] of [
      ['Binary', { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('hi').toString('base64') }],
      ['Subscription', { resourceType: 'Subscription', status: 'requested', reason: 'watch', criteria: 'Observation?status=final', channel: { type: 'websocket' } }],
    ] as const) {
      const plain = await validate(t, `${type} without mode`, system, `${type}/$validate`, body);
      t.equal(plain.statusCode, 200, `${type}/$validate: ${plain.body.slice(0, 200)}`);
      t.match(plain.json(), { issue: [{ severity: 'information' }] });
      const validated = await validate(t, `${type} mode=create`, system, `${type}/$validate`, params('create', body));
      agree(t, `${type} create`, validated, await send(system, 'POST', type, body));
    }
    const badCriteria = { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'AuditEvent?', channel: { type: 'websocket' } };
    const validated = await validate(t, 'Subscription on AuditEvents', system, 'Subscription/$validate?mode=create', badCriteria);
    const written = await send(system, 'POST', 'Subscription', badCriteria);
    t.equal(written.statusCode, 422);
    agree(t, 'Subscription on AuditEvents', validated, written);
    t.equal((await send(system, 'GET', 'Binary/$validate')).statusCode, 405, 'other methods stay a 405');
  });

  t.test('mode=create: refused with the code of POST, accepted as POST accepts', async (t) => {
    const free = await binary('content of a new document');
    const cases: Array<[string, string, Record<string, unknown>, number]> = [
      ['SUBSETTED tag', system, { resourceType: 'Patient', meta: { tag: [SUBSETTED] }, name: [{ family: 'Partial' }] }, 422],
      ["the server's audit tag", system, clientAuditEvent([AUDIT_ORIGIN]), 422],
      ["a client's AuditEvent", system, clientAuditEvent(), 201],
      ["a block naming another server's professional", alice, privacyConsent(space.alice, 'deny', { actor: 'https://elsewhere/fhir/Practitioner/1' }), 422],
      ['a block naming a professional of this server', alice, privacyConsent(space.alice, 'deny', { actor: space.otherPro }), 201],
      ['class 90 claimed by a professional', doctor, { ...document(space.alice), category: [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }] }, 422],
      ['a document the patient adds (class 90, DOCPAT)', alice, { ...document(space.alice), category: [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }], type: { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT01' }] } }, 201],
      ['a document whose content does not exist', system, documentOf('does-not-exist'), 422],
      ['a document whose content exists', system, documentOf(free), 201],
      ['an Observation by a professional without consent', stranger, observation(space.alice, 'laboratory'), 403],
      ["an Observation by the patient's regular doctor", doctor, observation(space.alice, 'laboratory'), 201],
      ["an Observation in another patient's space", alice, observation(space.bob, 'vital-signs'), 403],
      ['an invalid Observation', system, { ...observation(space.alice, 'laboratory'), status: 'bogus' }, 422],
    ];
    for (const [name, authorization, body, status] of cases) {
      const type = String(body.resourceType);
      const validated = await validate(t, name, authorization, `${type}/$validate`, params('create', body));
      const written = await send(authorization, 'POST', type, body);
      t.equal(written.statusCode, status, `${name}: POST ${written.body.slice(0, 200)}`);
      agree(t, name, validated, written);
    }
  });

  t.test('client meta the write replaces: accepted with mode create or update, judged as sent without a mode', async (t) => {
    const metas: Array<Record<string, unknown>> = [{}, { lastUpdated: '2000-01-01T10:00:00' }, { versionId: 'not an id!' }];
    for (const [i, meta] of metas.entries()) {
      const name = `meta ${JSON.stringify(meta)}`;
      const body = { resourceType: 'Patient', meta, name: [{ family: `Meta${i}` }] };
      agree(t, `${name}, create`, await validate(t, name, system, 'Patient/$validate', params('create', body)), await send(system, 'POST', 'Patient', body));
      const id = `meta-${i}`;
      const updated = { ...body, id };
      agree(t, `${name}, update`, await validate(t, name, system, `Patient/${id}/$validate`, params('update', updated)), await send(system, 'PUT', `Patient/${id}`, updated));
      agree(t, `${name}, update again`, await validate(t, name, system, `Patient/${id}/$validate?mode=update`, updated), await send(system, 'PUT', `Patient/${id}`, updated));
      const plain = await validate(t, name, system, 'Patient/$validate', body);
      t.ok(errorCodes(plain).length > 0, `${name}: without a mode the resource is judged as it is`);
    }
  });

  t.test('mode=update: compared with the current version as PUT does, as the caller', async (t) => {
    const docId = await created(system, 'DocumentReference', documentOf(await binary('a report')));
    const stored = (await send(system, 'GET', `DocumentReference/${docId}`)).json() as DocumentReference;
    const { meta: _meta, ...current } = stored;
    const retyped = { ...current, type: { coding: [{ system: 'http://loinc.org', code: '34112-3' }] } };
    const validatedRetype = await validate(t, 'document type changed', system, `DocumentReference/${docId}/$validate`, params('update', retyped));
    const retype = await send(system, 'PUT', `DocumentReference/${docId}`, retyped);
    t.equal(retype.statusCode, 422);
    agree(t, 'document type changed', validatedRetype, retype);
    t.equal(errorCodes(retype)[0], 'FHIR_ERR_DOC_PATCH_FIELD');
    const superseded = { ...current, status: 'superseded' };
    agree(t, 'document status changed', await validate(t, 'status', system, `DocumentReference/${docId}/$validate`, params('update', superseded)),
      await send(system, 'PUT', `DocumentReference/${docId}`, superseded));

    const alicePatient = (await send(doctor, 'GET', `Patient/${space.alice.slice(8)}`)).json() as Patient;
    const { meta: _m, ...patient } = alicePatient;
    const newDoctor = { ...patient, generalPractitioner: [{ reference: space.otherPro }] };
    const validatedDoctor = await validate(t, 'regular doctor', doctor, `${space.alice}/$validate`, params('update', newDoctor));
    const changedDoctor = await send(doctor, 'PUT', space.alice, newDoctor);
    t.equal(changedDoctor.statusCode, 403, 'a professional does not choose the regular doctor');
    agree(t, 'regular doctor changed by a professional', validatedDoctor, changedDoctor);
    const phoned = { ...patient, telecom: [{ system: 'phone', value: '0102030405' }] };
    agree(t, 'telecom changed by the regular doctor', await validate(t, 'telecom', doctor, `${space.alice}/$validate`, params('update', phoned)),
      await send(doctor, 'PUT', space.alice, phoned));

    const obsId = await created(doctor, 'Observation', observation(space.alice, 'laboratory'));
    const moved = { ...observation(space.bob, 'laboratory'), id: obsId };
    const validatedMove = await validate(t, 'moved', doctor, `Observation/${obsId}/$validate`, params('update', moved));
    const move = await send(doctor, 'PUT', `Observation/${obsId}`, moved);
    t.equal(move.statusCode, 403, "the doctor may not write into bob's space");
    agree(t, "an Observation moved into another patient's space", validatedMove, move);

    const eventId = await created(system, 'AuditEvent', clientAuditEvent());
    const event = { ...clientAuditEvent(), id: eventId };
    agree(t, 'an AuditEvent', await validate(t, 'AuditEvent', system, `AuditEvent/${eventId}/$validate`, params('update', event)),
      await send(system, 'PUT', `AuditEvent/${eventId}`, event));

    const fresh = { resourceType: 'Patient', id: 'created-by-put', name: [{ family: 'New' }] };
    const validatedFresh = await validate(t, 'new id', system, 'Patient/$validate?mode=update', fresh);
    t.match(validatedFresh.json(), { issue: [{ severity: 'information', diagnostics: /create/ }] });
    const put = await send(system, 'PUT', 'Patient/created-by-put', fresh);
    t.equal(put.statusCode, 201);
    agree(t, 'an update of an id that is new', validatedFresh, put);
  });

  t.test('mode=update or delete of what the caller may not read: answered as a read, nothing compared', async (t) => {
    const obsId = await created(system, 'Observation', observation(space.alice, 'laboratory'));
    const body = { ...observation(space.alice, 'laboratory'), id: obsId, status: 'amended' };
    for (const [who, authorization] of [['a professional without consent', stranger], ['another patient', bob]] as const) {
      await sameAsRead(t, `${who}, update`, await validate(t, who, authorization, `Observation/${obsId}/$validate`, params('update', body)), authorization, `Observation/${obsId}`);
      await sameAsRead(t, `${who}, delete`, await validate(t, who, authorization, `Observation/${obsId}/$validate?mode=delete`), authorization, `Observation/${obsId}`);
    }
    const narrow = await space.systemAuth('system/Observation.cud');
    await sameAsRead(t, 'a client that may write but not read', await validate(t, 'narrow', narrow, `Observation/${obsId}/$validate`, params('delete')), narrow, `Observation/${obsId}`);
  });

  t.test('mode=delete needs no resource and runs the checks of DELETE', async (t) => {
    const usedId = await binary('bytes of a document');
    await created(system, 'DocumentReference', documentOf(usedId));
    for (const [how, url, payload] of [
      ['no body', `Binary/${usedId}/$validate?mode=delete`, undefined],
      ['Parameters with mode only', `Binary/${usedId}/$validate`, params('delete')],
      ['type level, the resource naming it', 'Binary/$validate', params('delete', { resourceType: 'Binary', id: usedId, contentType: 'text/plain' })],
    ] as const) {
      const validated = await validate(t, how, system, url, payload);
      t.equal(validated.statusCode, 200, `${how}: ${validated.body.slice(0, 200)}`);
      t.same(errorCodes(validated), ['FHIR_ERR_DOC_BINARY_IN_USE'], `${how}: the Binary is a document's content`);
    }
    const inUse = await send(system, 'DELETE', `Binary/${usedId}`);
    t.equal(inUse.statusCode, 409);
    agree(t, 'a Binary a document uses', await validate(t, 'in use', system, `Binary/${usedId}/$validate?mode=delete`), inUse);

    const eventId = await created(system, 'AuditEvent', clientAuditEvent());
    const validatedEvent = await validate(t, 'AuditEvent', system, `AuditEvent/${eventId}/$validate`, params('delete'));
    const deleteEvent = await send(system, 'DELETE', `AuditEvent/${eventId}`);
    t.equal(deleteEvent.statusCode, 405);
    agree(t, 'an AuditEvent', validatedEvent, deleteEvent);

    const proDoc = await created(doctor, 'DocumentReference', document(space.alice, undefined, 'by the doctor'));
    const validatedOwn = await validate(t, 'holder', alice, `DocumentReference/${proDoc}/$validate?mode=delete`);
    const deleteOwn = await send(alice, 'DELETE', `DocumentReference/${proDoc}`);
    t.equal(deleteOwn.statusCode, 403, "the holder deletes only the documents she added");
    agree(t, "a professional's document deleted by the holder", validatedOwn, deleteOwn);

    const freeId = await binary('bytes no document uses');
    const validatedFree = await validate(t, 'free', system, `Binary/${freeId}/$validate?mode=delete`);
    t.equal((await send(system, 'GET', `Binary/${freeId}`)).statusCode, 200, '$validate deleted nothing');
    const deleteFree = await send(system, 'DELETE', `Binary/${freeId}`);
    t.equal(deleteFree.statusCode, 200);
    agree(t, 'a Binary no document uses', validatedFree, deleteFree);
    const gone = await validate(t, 'gone', system, `Binary/${freeId}/$validate?mode=delete`);
    agree(t, 'a Binary deleted already', gone, await send(system, 'DELETE', `Binary/${freeId}`));
    t.match(gone.json(), { issue: [{ severity: 'information', diagnostics: /not present/ }] });

    const noId = await send(system, 'POST', 'Binary/$validate', params('delete'));
    t.equal(noId.statusCode, 400, 'a delete of nothing named');
  });

  t.test('audited as $validate is: an allowed rehearsal is no access to record, a refused one is recorded as refused', async (t) => {
    const obsId = await created(doctor, 'Observation', observation(space.alice, 'laboratory'));
    const body = { ...observation(space.alice, 'laboratory'), id: obsId, status: 'amended' };
    const events = async () => {
      await app.audit.settle();
      return (await send(system, 'GET', 'AuditEvent?_summary=count')).json().total as number;
    };
    const before = await events();
    const allowed = await validate(t, 'allowed', doctor, `Observation/${obsId}/$validate`, params('update', body));
    t.same(errorCodes(allowed), []);
    t.equal(await events(), before, 'no AuditEvent for a rehearsal the policy allows');
    const refused = await validate(t, 'refused', stranger, `Observation/${obsId}/$validate`, params('update', body));
    t.equal(refused.statusCode, 403);
    t.equal(await events(), before + 1, 'the refusal is recorded');
    const last = (await send(system, 'GET', `AuditEvent?entity=Observation/${obsId}&outcome=4`)).json();
    t.match(last.entry, [{ resource: { subtype: [{ code: 'operation' }], outcome: '4' } }], 'as a refused operation, not as a read or a write');
  });

  t.test('a Parameters with two resources (or two modes) is malformed: 400, not the first one checked', async (t) => {
    const two = await send(system, 'POST', 'Patient/$validate', { resourceType: 'Parameters', parameter: [
      { name: 'resource', resource: { resourceType: 'Patient' } }, { name: 'resource', resource: { resourceType: 'Patient', gender: 'bogus' } },
    ] });
    t.equal(two.statusCode, 400);
    t.same(errorCodes(two), ['FHIR_ERR_VALIDATION_INPUT']);
    const modes = await send(system, 'POST', 'Patient/$validate', { resourceType: 'Parameters', parameter: [
      { name: 'resource', resource: { resourceType: 'Patient' } }, { name: 'mode', valueCode: 'create' }, { name: 'mode', valueCode: 'delete' },
    ] });
    t.equal(modes.statusCode, 400);
    t.same(errorCodes(modes), ['FHIR_ERR_VALIDATION_INPUT']);
    t.equal((await send(system, 'POST', 'Patient/$validate?mode=create&mode=update', { resourceType: 'Patient' })).statusCode, 400, 'two modes in the query');
  });

  t.test('without a mode the resource alone is validated, and the answer says so', async (t) => {
    const subsetted = { resourceType: 'Patient', meta: { tag: [SUBSETTED] } };
    const res = await validate(t, 'no mode', system, 'Patient/$validate', subsetted);
    t.equal(res.statusCode, 200);
    t.match(res.json(), { issue: [{ severity: 'information', diagnostics: /resource alone/ }] });
    t.same(errorCodes(await send(system, 'POST', 'Patient/$validate?mode=create', subsetted)), ['FHIR_ERR_REST_SUBSETTED'], "with a mode, the write's refusal");
  });
});

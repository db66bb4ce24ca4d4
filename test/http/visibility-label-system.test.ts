import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, DocumentReference, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { FHIR_JSON, VISIBILITY, buildSpace, document, holderBearer, observation, professionalBearer } from '../helpers/people.js';

/**
 * A visibility label counts only with its code in the TRE-A07 system, written
 * exactly (access/labels.ts). One that reads as a label but would not count
 * (no system, `http:` for `https:`, a trailing `/`, the code in the text only,
 * a code of that system the server does not know) is refused with 422
 * FHIR_ERR_LABEL_SYSTEM on every write path, in DocumentReference.securityLabel
 * and in `meta.security` of any type, and nothing is stored: the writer must not
 * believe a document masked that professionals still see. Labels of other
 * systems (confidentiality N, R) and correct ones are written as before, and the
 * patient still masks and unmasks.
 */
const PATCH_JSON = 'application/json-patch+json';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const DOCUMENT_PROFILE = 'https://carnet.dev/fhir/StructureDefinition/carnet-document';
const ID_SYSTEM = 'urn:carnet:visibility-label-system';
const keyed = (key: string) => ({ identifier: [{ system: ID_SYSTEM, value: key }] });

/** [name, labels as securityLabel, expression of the first issue] */
const REFUSED_LABELS: Array<[string, unknown[], string]> = [
  ['a coding without a system', [{ coding: [{ code: 'MASQUE_PS' }] }], 'DocumentReference.securityLabel[0].coding[0]'],
  ['the code in the text only', [{ text: 'MASQUE_PS' }], 'DocumentReference.securityLabel[0].text'],
  ['the system with a trailing /', [{ coding: [{ system: `${VISIBILITY}/`, code: 'MASQUE_PS' }] }], 'DocumentReference.securityLabel[0].coding[0]'],
  ['http: for https:', [{ coding: [{ system: VISIBILITY.replace('https:', 'http:'), code: 'MASQUE_PS' }] }], 'DocumentReference.securityLabel[0].coding[0]'],
  ['the right system, the code in lower case', [{ coding: [{ system: VISIBILITY, code: 'masque_ps' }] }], 'DocumentReference.securityLabel[0].coding[0]'],
  ['another system, the code in mixed case', [{ coding: [{ system: 'urn:oid:1.2.250.1.213.1.1.4.10', code: 'Masque_PS' }] }], 'DocumentReference.securityLabel[0].coding[0]'],
  ['INVISIBLE_PATIENT without a system, after a good N', [{ coding: [{ system: CONFIDENTIALITY, code: 'N' }] }, { coding: [{ code: 'INVISIBLE_PATIENT' }] }], 'DocumentReference.securityLabel[1].coding[0]'],
  ['the text beside a coding of another system', [{ text: 'INVISIBLE_REPRESENTANTS_LEGAUX', coding: [{ system: CONFIDENTIALITY, code: 'R' }] }], 'DocumentReference.securityLabel[0].text'],
];

function assertLabelRefused(t: Test, res: { statusCode: number; body: string; json(): unknown }, name: string, at?: string) {
  t.equal(res.statusCode, 422, `${name}: 422 (${res.body.slice(0, 300)})`);
  const outcome = res.json() as OperationOutcome;
  t.equal(outcome.resourceType, 'OperationOutcome', name);
  const issue = outcome.issue[0];
  t.equal(issue?.details?.coding?.[0]?.code, 'FHIR_ERR_LABEL_SYSTEM', `${name}: FHIR_ERR_LABEL_SYSTEM`);
  t.equal(issue?.severity, 'error');
  if (at) t.match(issue?.expression?.[0], new RegExp(`${at.replace(/[.[\]]/g, '\\$&')}$`), `${name}: names ${at}`);
  t.match(issue?.diagnostics, new RegExp(`must carry the system ${VISIBILITY.replace(/[.]/g, '\\.')}`), `${name}: says which system makes it count`);
}

t.test('a visibility label that would not count is refused; those that count, and other labels, are kept', async (t) => {
  const space = await buildSpace(t);
  const { app } = space;
  const system = await space.systemAuth();
  const alice = await holderBearer(app, space.users.alice);
  const permitted = await professionalBearer(app, space.users.permittedPro);
  const doctor = await professionalBearer(app, space.users.doctor);

  const send = (authorization: string, method: 'POST' | 'PUT' | 'PATCH', url: string, payload: unknown) => app.inject({
    method, url, headers: { authorization, 'content-type': method === 'PATCH' ? PATCH_JSON : FHIR_JSON },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  /** How many resources of `type` carry `key`: a DocumentReference as its description, an Observation as its identifier. */
  const count = async (type: string, key: string) => {
    const query = type === 'DocumentReference' ? `description=${encodeURIComponent(key)}` : `identifier=${encodeURIComponent(`${ID_SYSTEM}|${key}`)}`;
    const res = await app.inject({ url: `/fhir/${type}?${query}&_summary=count`, headers: { authorization: system } });
    t.equal(res.statusCode, 200, res.body.slice(0, 200));
    return (res.json() as Bundle).total;
  };
  const visibleTo = async (authorization: string, id: string) => {
    const res = await app.inject({ url: `/fhir/DocumentReference?patient=${space.alice}`, headers: { authorization } });
    return ((res.json() as Bundle).entry ?? []).some((e) => e.resource?.id === id);
  };
  const labelled = (description: string, securityLabel: unknown[], extra: Record<string, unknown> = {}) => ({ ...document(space.alice, undefined, description), securityLabel, ...extra });

  t.test('POST of a DocumentReference (with and without the carnet-document profile): 422, nothing stored', async (t) => {
    for (const [i, [name, labels, at]] of REFUSED_LABELS.entries()) {
      const description = `refused-${i}`;
      assertLabelRefused(t, await send(system, 'POST', '/fhir/DocumentReference', labelled(description, labels)), name, at);
      assertLabelRefused(t, await send(doctor, 'POST', '/fhir/DocumentReference', labelled(description, labels)), `by a professional, ${name}`, at);
      // Under the profile's required binding the validator may say it first: refused all the same.
      const profiled = await send(system, 'POST', '/fhir/DocumentReference', labelled(description, labels, { meta: { profile: [DOCUMENT_PROFILE] }, author: [{ display: 'Dr X' }] }));
      t.equal(profiled.statusCode, 422, `under the profile, ${name}: 422 (${profiled.body.slice(0, 200)})`);
      t.equal(await count('DocumentReference', description), 0, `${name}: nothing stored`);
    }
  });

  t.test('meta.security of any type: the same rule', async (t) => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['a DocumentReference, MASQUE_PS without a system', { ...document(space.alice, undefined, 'meta-doc'), meta: { security: [{ code: 'MASQUE_PS' }] } }, 'DocumentReference.meta.security[0]'],
      ['an Observation, INVISIBLE_PATIENT under http:', observation(space.alice, 'laboratory', { ...keyed('meta-obs-1'), meta: { security: [{ system: VISIBILITY.replace('https:', 'http:'), code: 'INVISIBLE_PATIENT' }] } }), 'Observation.meta.security[0]'],
      ['an Observation, MASQUE_PS without a system after a good R', observation(space.alice, 'laboratory', { ...keyed('meta-obs-2'), meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }, { code: 'MASQUE_PS' }] } }), 'Observation.meta.security[1]'],
    ];
    for (const [name, resource, at] of cases) {
      assertLabelRefused(t, await send(system, 'POST', `/fhir/${String(resource.resourceType)}`, resource), name, at);
    }
    t.equal(await count('DocumentReference', 'meta-doc'), 0, 'no DocumentReference stored');
    t.equal(await count('Observation', 'meta-obs-1'), 0, 'no Observation stored');
    t.equal(await count('Observation', 'meta-obs-2'), 0, 'no Observation stored');
    // PUT, create and update.
    const put = await send(system, 'PUT', '/fhir/Observation/label-put', { ...observation(space.alice, 'laboratory', keyed('meta-put')), id: 'label-put' });
    t.equal(put.statusCode, 201, put.body.slice(0, 200));
    const bad = { ...observation(space.alice, 'laboratory', { ...keyed('meta-put'), meta: { security: [{ code: 'MASQUE_PS' }] } }), id: 'label-put' };
    assertLabelRefused(t, await send(system, 'PUT', '/fhir/Observation/label-put', bad), 'PUT update', 'Observation.meta.security[0]');
    assertLabelRefused(t, await send(system, 'PUT', '/fhir/Observation/label-put-new', { ...bad, id: 'label-put-new' }), 'PUT create', 'Observation.meta.security[0]');
    const after = await app.inject({ url: '/fhir/Observation/label-put', headers: { authorization: system } });
    t.equal((after.json() as Resource).meta?.versionId, '1', 'the update was not stored');
    t.equal((await app.inject({ url: '/fhir/Observation/label-put-new', headers: { authorization: system } })).statusCode, 404, 'nor the create');
  });

  t.test('a transaction entry: the whole transaction refused, nothing stored', async (t) => {
    const res = await send(system, 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { resource: labelled('tx-good', [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }]), request: { method: 'POST', url: 'DocumentReference' } },
        { resource: labelled('tx-bad', [{ coding: [{ code: 'MASQUE_PS' }] }]), request: { method: 'POST', url: 'DocumentReference' } },
      ],
    });
    t.equal(res.statusCode, 422, res.body.slice(0, 300));
    t.match(res.body, /FHIR_ERR_LABEL_SYSTEM/);
    t.match(res.body, /Bundle\.entry\[1\]/, 'the entry is named');
    t.equal(await count('DocumentReference', 'tx-good'), 0, 'nor its good sibling');
    t.equal(await count('DocumentReference', 'tx-bad'), 0);
  });

  t.test('the patient masks with the right label only; a label without its system leaves the document as it was', async (t) => {
    const created = await send(doctor, 'POST', '/fhir/DocumentReference', document(space.alice, undefined, 'to mask'));
    t.equal(created.statusCode, 201, created.body.slice(0, 200));
    const id = (created.json() as DocumentReference).id!;
    t.ok(await visibleTo(permitted, id), 'a consented professional sees it');
    for (const value of [[{ coding: [{ code: 'MASQUE_PS' }] }], [{ text: 'MASQUE_PS' }], [{ coding: [{ system: `${VISIBILITY}/`, code: 'MASQUE_PS' }] }]]) {
      const res = await send(alice, 'PATCH', `/fhir/DocumentReference/${id}`, [{ op: 'add', path: '/securityLabel', value }]);
      assertLabelRefused(t, res, `PATCH ${JSON.stringify(value)}`);
    }
    const read = await app.inject({ url: `/fhir/DocumentReference/${id}`, headers: { authorization: alice } });
    t.equal((read.json() as DocumentReference).meta?.versionId, '1', 'no version added');
    t.ok(await visibleTo(permitted, id), 'still visible, and the patient was told it is not masked');
    const masked = await send(alice, 'PATCH', `/fhir/DocumentReference/${id}`, [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }] }]);
    t.equal(masked.statusCode, 200, masked.body.slice(0, 300));
    t.notOk(await visibleTo(permitted, id), 'masked with the right label');
    t.ok(await visibleTo(doctor, id), 'the regular doctor still sees it');
    const unmasked = await send(alice, 'PATCH', `/fhir/DocumentReference/${id}`, [{ op: 'remove', path: '/securityLabel' }]);
    t.equal(unmasked.statusCode, 200, unmasked.body.slice(0, 300));
    t.ok(await visibleTo(permitted, id), 'unmasked');
  });

  t.test('labels that count, and labels of other systems, are written as before', async (t) => {
    const good: Array<[string, unknown[], boolean]> = [
      ['MASQUE_PS in the visibility system', [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }], false],
      ['with a text beside it', [{ text: 'masqué', coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }], false],
      ['the text MASQUE_PS beside the right coding', [{ text: 'MASQUE_PS', coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }], false],
      ['confidentiality N', [{ coding: [{ system: CONFIDENTIALITY, code: 'N' }] }], true],
      ['confidentiality R and a text', [{ text: 'restricted', coding: [{ system: CONFIDENTIALITY, code: 'R' }] }], true],
      ['a code of another system that is not a visibility code', [{ coding: [{ system: 'https://example.org/labels', code: 'MASQUE' }] }], true],
    ];
    for (const [name, labels, seen] of good) {
      const res = await send(system, 'POST', '/fhir/DocumentReference', labelled(`good ${name}`, labels));
      t.equal(res.statusCode, 201, `${name}: ${res.body.slice(0, 300)}`);
      t.equal(await visibleTo(permitted, (res.json() as DocumentReference).id!), seen, `${name}: ${seen ? 'seen' : 'masked from'} a consented professional`);
    }
    const profiled = await send(system, 'POST', '/fhir/DocumentReference', labelled('good profiled', [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }], { meta: { profile: [DOCUMENT_PROFILE] }, author: [{ display: 'Dr X' }] }));
    t.equal(profiled.statusCode, 201, profiled.body.slice(0, 300));
    for (const security of [[{ system: CONFIDENTIALITY, code: 'R' }], [{ system: VISIBILITY, code: 'INVISIBLE_PATIENT' }]]) {
      const res = await send(system, 'POST', '/fhir/Observation', observation(space.alice, 'laboratory', { meta: { security } }));
      t.equal(res.statusCode, 201, `meta.security ${JSON.stringify(security)}: ${res.body.slice(0, 300)}`);
    }
  });

  t.test('a document stored before the rule with such a label still takes its other changes', async (t) => {
    // Written straight to the store, as it could be before this rule.
    const { record } = await app.repository.create(labelled('legacy', [{ coding: [{ code: 'MASQUE_PS' }] }]) as unknown as Resource);
    t.ok(await visibleTo(permitted, record.id), 'the old label never counted');
    const masked = await send(alice, 'PATCH', `/fhir/DocumentReference/${record.id}`, [{ op: 'add', path: '/securityLabel/-', value: { coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] } }]);
    t.equal(masked.statusCode, 200, masked.body.slice(0, 300));
    t.notOk(await visibleTo(permitted, record.id), 'the patient masked it');
  });
});

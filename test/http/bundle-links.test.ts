import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Observation, Patient, ValueSet } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';
const uuid = () => `urn:uuid:${randomUUID()}`;

// http.html#trules: what a Bundle's links to its entries become, and what they must not touch.
t.test('links between the entries of a Bundle', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const post = (type: 'transaction' | 'batch', entry: BundleEntry[]) =>
    app.inject({ method: 'POST', url: '/fhir', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Bundle', type, entry } });
  const read = async <T>(location: string) => (await app.inject({ url: `/fhir/${location.split('/_history')[0]}`, headers: { authorization } })).json() as T;
  const search = async (url: string) => (await app.inject({ url: `/fhir/${url}`, headers: { authorization } })).json() as Bundle;

  t.test('a canonical url and an extension url are never rewritten, whatever the fullUrls', async (t) => {
    const canonical = `http://example.org/fhir/ValueSet/vs-${randomUUID()}`;
    const extensionUrl = `http://example.org/fhir/StructureDefinition/ext-${randomUUID()}`;
    const res = await post('transaction', [
      { fullUrl: canonical, request: { method: 'POST', url: 'ValueSet' }, resource: { resourceType: 'ValueSet', url: canonical, status: 'active' } as ValueSet },
      { fullUrl: extensionUrl, request: { method: 'POST', url: 'Basic' }, resource: { resourceType: 'Basic', code: { text: 'x' } } },
      { fullUrl: uuid(), request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', extension: [{ url: extensionUrl, valueString: 'kept' }] } },
    ]);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const [vs, , patient] = (res.json() as Bundle).entry!.map((e) => e.response!.location!);
    t.equal((await read<ValueSet>(vs!)).url, canonical, 'the ValueSet keeps its canonical url');
    t.equal((await read<Patient>(patient!)).extension![0]!.url, extensionUrl, 'the extension keeps its url');
    t.equal((await search(`ValueSet?url=${encodeURIComponent(canonical)}`)).total, 1, 'and is found by it');
  });

  t.test('a narrative link to an entry names the id it got', async (t) => {
    const patientUrl = uuid();
    const res = await post('transaction', [
      { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
      { fullUrl: uuid(), request: { method: 'POST', url: 'Observation' }, resource: {
        resourceType: 'Observation', status: 'final', code: { text: 'note' }, subject: { reference: patientUrl },
        text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">About <a href="${patientUrl}">the patient</a></div>` },
      } as Observation },
    ]);
    t.equal(res.statusCode, 200, res.body.slice(0, 300));
    const [patient, observation] = (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/_history')[0]!);
    t.match((await read<Observation>(observation!)).text!.div, `href="${patient}"`);
  });

  t.test('a document or collection Bundle stored by a transaction or a batch keeps its own links', async (t) => {
    const innerPatient = uuid();
    const collection = {
      resourceType: 'Bundle', type: 'collection',
      entry: [
        { fullUrl: innerPatient, resource: { resourceType: 'Patient', name: [{ family: 'Inner' }] } },
        { fullUrl: uuid(), resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: innerPatient } } },
      ],
    };
    for (const type of ['transaction', 'batch'] as const) {
      const res = await post(type, [{ fullUrl: uuid(), request: { method: 'POST', url: 'Bundle' }, resource: collection as Bundle }]);
      t.equal(res.statusCode, 200, res.body.slice(0, 300));
      const entry = (res.json() as Bundle).entry![0]!;
      t.match(entry.response!.status, /^201/, `${type}: the inner urn:uuid references are not the outer Bundle's to resolve`);
      const stored = await read<Bundle>(entry.response!.location!);
      t.equal((stored.entry![1]!.resource as Observation).subject!.reference, innerPatient, `${type}: stored as sent`);
    }
    // An outer entry whose fullUrl is also an inner one: the inner reference still names the inner entry.
    const outer = await post('transaction', [
      { fullUrl: innerPatient, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
      { fullUrl: uuid(), request: { method: 'POST', url: 'Bundle' }, resource: collection as Bundle },
    ]);
    t.equal(outer.statusCode, 200, outer.body.slice(0, 300));
    const stored = await read<Bundle>((outer.json() as Bundle).entry![1]!.response!.location!);
    t.equal((stored.entry![1]!.resource as Observation).subject!.reference, innerPatient);
  });

  t.test('conditions and GET entries naming an entry by its fullUrl: a transaction sent twice writes once', async (t) => {
    const identifier = `urn:test|${randomUUID()}`;
    const transaction = () => {
      const patientUrl = uuid();
      const query = `subject=${patientUrl}&code=http://loinc.org|8867-4`;
      // The Observation comes first: its condition waits for the Patient's id.
      return [
        { fullUrl: uuid(), request: { method: 'POST', url: 'Observation', ifNoneExist: query }, resource: {
          resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: patientUrl },
          valueQuantity: { value: 70, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        } as Observation },
        { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${identifier}` }, resource: {
          resourceType: 'Patient', identifier: [{ system: identifier.split('|')[0], value: identifier.split('|')[1] }],
        } as Patient },
        { request: { method: 'GET', url: `Observation?subject=${patientUrl}` } },
      ] as BundleEntry[];
    };
    const first = await post('transaction', transaction());
    t.equal(first.statusCode, 200, first.body.slice(0, 300));
    const firstEntries = (first.json() as Bundle).entry!;
    t.match(firstEntries[0]!.response!.status, /^201/);
    t.equal((firstEntries[2]!.resource as Bundle).total, 1, 'the GET entry sees the Observation of this transaction');
    const again = await post('transaction', transaction());
    t.equal(again.statusCode, 200, again.body.slice(0, 300));
    const entries = (again.json() as Bundle).entry!;
    t.match(entries[1]!.response!.status, /^200/, 'the Patient matched');
    t.match(entries[0]!.response!.status, /^200/, 'the Observation matched through the Patient\'s placeholder');
    const patientId = entries[1]!.response!.location!.split('/')[1];
    t.equal((await search(`Observation?subject=Patient/${patientId}`)).total, 1, 'one Observation, not two');
  });

  t.test('conditions naming each other in a circle are a 400', async (t) => {
    const [a, b] = [uuid(), uuid()];
    const res = await post('transaction', [
      { fullUrl: a, request: { method: 'POST', url: 'Patient', ifNoneExist: `link=${b}` }, resource: { resourceType: 'Patient' } },
      { fullUrl: b, request: { method: 'POST', url: 'Patient', ifNoneExist: `link=${a}` }, resource: { resourceType: 'Patient' } },
    ]);
    t.equal(res.statusCode, 400);
    t.match(res.json().issue[0].diagnostics, /Bundle\.entry\[0\]/);
  });

  t.test('a batch resolves a conditional reference, or fails the entry', async (t) => {
    const identifier = `cr-${randomUUID()}`;
    const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization, 'content-type': FHIR }, payload: { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: identifier }] } });
    const patientId = (created.json() as Patient).id;
    const observation = (reference: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference } } as Observation);
    const res = await post('batch', [
      { request: { method: 'POST', url: 'Observation' }, resource: observation(`Patient?identifier=urn:x|${identifier}`) },
      { request: { method: 'POST', url: 'Observation' }, resource: observation('Patient?identifier=urn:x|nobody') },
    ]);
    const [resolved, unmatched] = (res.json() as Bundle).entry!;
    t.match(resolved!.response!.status, /^201/);
    t.equal((await read<Observation>(resolved!.response!.location!)).subject!.reference, `Patient/${patientId}`, 'stored as the Patient it names');
    t.equal(unmatched!.response!.status, '412', 'no match: the entry fails, nothing stored with a query as reference');
  });

  t.test('a transaction\'s conditional reference with an unknown parameter names its entry', async (t) => {
    const res = await post('transaction', [
      { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
      { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?bogusparam=1' } } as Observation },
    ]);
    t.equal(res.statusCode, 400);
    t.match(res.json().issue[0].diagnostics, /Bundle\.entry\[1\]/);
  });

  t.test('broken percent-encoding in an entry\'s URL or condition is a 400, not a search for something else', async (t) => {
    const res = await post('batch', [
      { request: { method: 'DELETE', url: 'Patient?name=%zz' } },
      { request: { method: 'POST', url: 'Patient', ifNoneExist: 'name=%zz' }, resource: { resourceType: 'Patient', name: [{ family: 'Encoded' }] } },
      { request: { method: 'GET', url: 'Patient?name=%zz' } },
    ]);
    t.same((res.json() as Bundle).entry!.map((e) => e.response!.status), ['400', '400', '400']);
    t.equal((await search('Patient?name=Encoded')).total, 0, 'nothing created');
    const tx = await post('transaction', [{ request: { method: 'DELETE', url: 'Patient?name=%zz' } }]);
    t.equal(tx.statusCode, 400);
  });
});

import t from 'tap';
import { buildServer } from '../../src/server.js';
import { loadConfig } from '../../src/config.js';
import { appClient, authorize, bearer, createTestClient, exchangeCode, pkcePair, tempDir, writeClientsFile } from '../helpers/tokens.js';

/**
 * EHR launch: the professional's software (a system client) gets a `launch`
 * bound to the patient it has open; the app, opened with it, gets that patient
 * as context, and its token reaches only that patient's space.
 */
t.test('EHR launch and authorize-post', async (t) => {
  const dataDir = await tempDir(t, 'carnet-ehr-');
  const dpi = await createTestClient({ clientId: 'dpi', scope: 'system/*.cruds' });
  const narrowClient = await createTestClient({ clientId: 'lab', scope: 'system/Observation.rs' });
  const clientsFile = await writeClientsFile(dataDir, [dpi, narrowClient, appClient({ scope: 'launch openid fhirUser user/*.rs patient/*.rs' })]);
  const app = await buildServer({ config: loadConfig({}, { dataDir, clientsFile, publicUrl: 'http://carnet.test', logLevel: 'silent' }), logger: false });
  t.teardown(() => app.close());
  await app.ready();
  const system = await bearer(app, dpi, 'system/*.cruds');
  const put = (resource: { resourceType: string; id: string } & Record<string, unknown>) =>
    app.inject({ method: 'PUT', url: `/fhir/${resource.resourceType}/${resource.id}`, headers: { authorization: system, 'content-type': 'application/fhir+json' }, payload: resource });
  await put({ resourceType: 'Practitioner', id: 'dr-roux', name: [{ family: 'Roux' }] });
  for (const id of ['anna', 'paul']) {
    await put({ resourceType: 'Patient', id, generalPractitioner: [{ reference: 'Practitioner/dr-roux' }] });
    await put({ resourceType: 'Observation', id: `${id}-obs`, status: 'final', code: { text: 'poids' }, subject: { reference: `Patient/${id}` } });
  }
  await app.carnetAuth.accounts.create({ username: 'dr.roux', password: 'a long enough password', kind: 'practitioner', fhirUser: 'Practitioner/dr-roux', patients: [] });

  t.equal((await app.inject({ method: 'POST', url: '/auth/launch', headers: { 'content-type': 'application/json' }, payload: { patient: 'anna' } })).statusCode, 401, 'a launch needs a token');
  t.equal((await app.inject({ method: 'POST', url: '/auth/launch', headers: { authorization: system, 'content-type': 'application/json' }, payload: { patient: '../x' } })).statusCode, 400);
  t.equal((await app.inject({ method: 'POST', url: '/auth/launch', headers: { authorization: system, 'content-type': 'application/json' }, payload: { patient: 'nobody' } })).statusCode, 404, 'a launch names a stored patient');
  t.equal((await app.inject({ method: 'POST', url: '/auth/launch', headers: { authorization: await bearer(app, narrowClient, 'system/Observation.rs'), 'content-type': 'application/json' }, payload: { patient: 'anna' } })).statusCode, 403, 'by a client that may read that patient');
  const issued = await app.inject({ method: 'POST', url: '/auth/launch', headers: { authorization: system, 'content-type': 'application/json' }, payload: { patient: 'anna' } });
  t.equal(issued.statusCode, 201);
  const { launch, iss } = issued.json();
  t.equal(iss, 'http://carnet.test/fhir');

  const flow = { clientId: 'test-app', username: 'dr.roux', password: 'a long enough password', scope: 'launch openid fhirUser patient/Observation.rs', query: { launch } };
  const { location, verifier } = await authorize(app, flow);
  const token = await exchangeCode(app, location.searchParams.get('code')!, verifier);
  t.equal(token.statusCode, 200);
  t.equal(token.json().patient, 'anna', 'the launch patient is the token context');
  const auth = `Bearer ${token.json().access_token}`;
  t.equal((await app.inject({ url: '/fhir/Observation/anna-obs', headers: { authorization: auth } })).statusCode, 200);
  const other = await app.inject({ url: '/fhir/Observation/paul-obs', headers: { authorization: auth } });
  t.equal(other.statusCode, 403, 'the token reaches only the launch patient, even for her regular doctor');
  t.match(other.json().issue[0].diagnostics, /launch-patient-only/);
  // Found by an exploratory search test: searches reached every patient of the professional.
  for (const scope of ['launch openid fhirUser patient/*.rs', 'launch openid fhirUser user/*.rs']) {
    const { launch: again } = (await app.inject({ method: 'POST', url: '/auth/launch', headers: { authorization: system, 'content-type': 'application/json' }, payload: { patient: 'anna' } })).json();
    const granted = await authorize(app, { ...flow, scope, query: { launch: again } });
    const authorization = `Bearer ${(await exchangeCode(app, granted.location.searchParams.get('code')!, granted.verifier)).json().access_token}`;
    const found = async (url: string) => ((await app.inject({ url, headers: { authorization } })).json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
    t.same(await found('/fhir/Observation'), ['anna-obs'], `${scope}: her regular doctor's launch token finds anna's only`);
    t.same(await found('/fhir/Observation?patient=paul'), [], `${scope}: not paul's`);
    t.same(await found('/fhir/Patient/paul/*'), [], `${scope}: nor his space`);
    t.same(await found('/fhir/Patient?_id=paul'), [], `${scope}: nor paul himself`);
  }

  const unknown = await authorize(app, { ...flow, query: { launch: 'no-such-launch' } }).catch((err: Error) => err);
  t.match(String(unknown), /authorize failed: 302.*error=invalid_request/, 'an unknown launch is refused back to the app');

  const { challenge } = pkcePair();
  const posted = await app.inject({
    method: 'POST', url: '/auth/authorize', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ response_type: 'code', client_id: 'test-app', redirect_uri: 'https://app.test/callback', scope: 'openid fhirUser user/*.rs', state: 's', aud: 'http://carnet.test/fhir', code_challenge: challenge, code_challenge_method: 'S256' }).toString(),
  });
  t.equal(posted.statusCode, 200, 'authorize-post shows the sign-in page');
  t.match(posted.body, /name="request_id"/);
  const discovery = (await app.inject({ url: '/fhir/.well-known/smart-configuration' })).json();
  t.ok(discovery.capabilities.includes('launch-ehr') && discovery.capabilities.includes('authorize-post'));
});

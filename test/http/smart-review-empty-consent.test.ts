import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { APPS, buildCatalogueServer, buildSpace, PASSWORD } from '../helpers/people.js';
import { authorize, exchangeCode } from '../helpers/tokens.js';

const REDIRECT = 'https://coach.test/cb';

/**
 * An app asking for no data of the space (`launch/patient openid fhirUser`),
 * or a person unticking every data scope, got a 422 HTML page ("The request
 * could not be read") from the consent form: the Consent written had an
 * empty `provision.class`, which FHIR refuses. Authorising no data is
 * legitimate: nothing of the space is shared, so no Consent is written, the
 * app gets its code, and its token says who signed in and reaches nothing of
 * the space.
 */
t.test('a catalogue app authorised for no data gets its code, and no Consent is written', async (t) => {
  const { app, adminAuth, systemAuth } = await buildCatalogueServer(t, 'carnet-smart-review-empty-');
  const registered = await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'coach', name: 'Coach', redirectUris: [REDIRECT], public: true, scope: 'launch/patient openid fhirUser offline_access patient/*.rs' },
  });
  t.equal(registered.statusCode, 201);
  await app.inject({ method: 'POST', url: '/admin/apps/coach/reference', headers: { authorization: adminAuth } });
  const appConsents = async () => ((await app.inject({ url: '/fhir/Consent?patient=Patient/ines', headers: { authorization: systemAuth } })).json() as { entry?: unknown[] }).entry?.length ?? 0;

  for (const [label, scope, untick] of [
    ['identity and patient context only', 'launch/patient openid fhirUser', []],
    ['every data scope unticked', 'launch/patient openid fhirUser patient/*.rs', ['patient/*.rs']],
    ['launch/patient alone ticked', 'launch/patient openid fhirUser patient/*.rs', ['patient/*.rs', 'openid', 'fhirUser']],
  ] as const) {
    const tokens = await approve(app, 'coach', REDIRECT, 'ines', scope, [...untick]);
    t.notMatch(tokens.scope, /patient\//, `${label}: no data scope granted`);
    t.equal(tokens.patient, 'ines', `${label}: the patient context is given`);
    if (tokens.id_token) t.equal(decodeJwt(tokens.id_token).fhirUser, 'http://carnet.test/fhir/Patient/ines', `${label}: the id_token says who signed in`);
    for (const url of ['/fhir/Patient/ines', '/fhir/Observation?patient=ines']) {
      t.equal((await app.inject({ url, headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 403, `${label}: ${url} is refused (nothing shared)`);
    }
  }
  t.equal(await appConsents(), 0, 'no Consent was written');

  // Data asked and granted: the Consent is written as before.
  const withData = await approve(app, 'coach', REDIRECT, 'ines', 'launch/patient openid fhirUser patient/*.rs', []);
  t.equal((await app.inject({ url: '/fhir/Patient/ines', headers: { authorization: `Bearer ${withData.access_token}` } })).statusCode, 200);
  t.equal(await appConsents(), 1, 'her Consent, for the data she shares');
});

t.test('the same for an app of CLIENTS_FILE', async (t) => {
  const space = await buildSpace(t);
  const tokens = await approve(space.app, APPS.holder, 'https://app.test/callback', space.users.alice, 'launch/patient openid fhirUser', []);
  t.equal(tokens.scope, 'launch/patient openid fhirUser');
  t.equal(tokens.patient, space.alice.slice('Patient/'.length));
});

/** The whole flow with everything offered ticked but `untick`: the token response (throws on any other answer than a code). */
async function approve(app: FastifyInstance, clientId: string, redirectUri: string, username: string, scope: string, untick: string[]) {
  const { location, verifier } = await authorize(app, { clientId, redirectUri, username, password: PASSWORD, scope, untick });
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  const res = await exchangeCode(app, code, verifier, clientId, redirectUri);
  if (res.statusCode !== 200) throw new Error(`exchange: ${res.statusCode} ${res.body}`);
  return res.json() as { access_token: string; scope: string; patient?: string; id_token?: string };
}

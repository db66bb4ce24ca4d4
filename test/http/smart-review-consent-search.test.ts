import t from 'tap';
import { buildCatalogueServer, FHIR_JSON, PASSWORD } from '../helpers/people.js';
import { authorize, exchangeCode } from '../helpers/tokens.js';

const REDIRECT = 'https://mesures.test/cb';
const SCOPE = 'launch/patient offline_access patient/*.rs';

/**
 * Once the holder withdrew her Consent for an app, a read by the app was a
 * 403 (rule app-without-consent) and introspection said inactive, but a
 * search answered 200 with an empty Bundle. Every search is now refused as a
 * read is, with the same rule: in her space, over every type, and for the
 * reference data outside any space, which the app reads only under her
 * Consent too.
 */
t.test('an app whose Consent was withdrawn: searches are refused as reads are', async (t) => {
  const { app, adminAuth, systemAuth } = await buildCatalogueServer(t, 'carnet-smart-review-search-');
  for (const resource of [
    { resourceType: 'Observation', id: 'ines-obs', status: 'final', code: { text: 'poids' }, subject: { reference: 'Patient/ines' } },
    { resourceType: 'Practitioner', id: 'dr-roux', name: [{ family: 'Roux' }] },
  ]) {
    await app.inject({ method: 'PUT', url: `/fhir/${resource.resourceType}/${resource.id}`, headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: resource });
  }
  await app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { clientId: 'mesures', name: 'Mes mesures', redirectUris: [REDIRECT], public: true, scope: SCOPE },
  });
  await app.inject({ method: 'POST', url: '/admin/apps/mesures/reference', headers: { authorization: adminAuth } });
  const { location, verifier } = await authorize(app, { clientId: 'mesures', redirectUri: REDIRECT, username: 'ines', password: PASSWORD, scope: SCOPE });
  const { access_token: token } = (await exchangeCode(app, location.searchParams.get('code')!, verifier, 'mesures', REDIRECT)).json() as { access_token: string };
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  const urls = [
    '/fhir/Observation/ines-obs', '/fhir/Observation?patient=ines', '/fhir/Observation', '/fhir/Observation?_summary=count',
    '/fhir/Patient/ines/Observation', '/fhir/Observation/_history', '/fhir/Practitioner/dr-roux', '/fhir/Practitioner',
  ];
  for (const url of urls) t.equal((await get(url)).statusCode, 200, `${url}: 200 while her Consent stands`);

  const consent = (await app.inject({ url: '/fhir/Consent?patient=Patient/ines&status=active', headers: { authorization: systemAuth } })).json().entry[0].resource;
  const withdrawn = await app.inject({ method: 'PUT', url: `/fhir/Consent/${consent.id}`, headers: { authorization: systemAuth, 'content-type': FHIR_JSON }, payload: { ...consent, status: 'inactive' } });
  t.equal(withdrawn.statusCode, 200);
  for (const url of urls) {
    const res = await get(url);
    t.equal(res.statusCode, 403, `${url}: 403 once it is withdrawn`);
    t.match(res.json().issue?.[0]?.diagnostics, /rule app-without-consent/, `${url}: the same rule as a read`);
  }
  const post = await app.inject({ method: 'POST', url: '/fhir/Observation/_search', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'patient=ines' });
  t.equal(post.statusCode, 403, 'POST _search too');
});

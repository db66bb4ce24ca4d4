import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildTestServer } from '../helpers/server.js';

const preflight = { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,if-match' };

t.test('by default any page may call the API, never with credentials', async (t) => {
  const { app } = await buildTestServer(t);
  const res = await app.inject({ method: 'OPTIONS', url: '/fhir/Patient', headers: { origin: 'https://booking.example', ...preflight } });
  t.equal(res.statusCode, 204, 'the preflight needs no token');
  t.equal(res.headers['access-control-allow-origin'], '*');
  t.match(String(res.headers['access-control-allow-headers']), /authorization/);
  t.match(String(res.headers['access-control-allow-methods']), /PATCH/);
  t.notOk(res.headers['access-control-allow-credentials'], 'cookies are never sent cross-origin');
  const refused = await app.inject({ url: '/fhir/Patient', headers: { origin: 'https://booking.example' } });
  t.equal(refused.statusCode, 401);
  t.equal(refused.headers['access-control-allow-origin'], '*', 'a page can read why it was refused');
  t.match(String(refused.headers['access-control-expose-headers']), /ETag/);
  t.match(String(refused.headers['access-control-expose-headers']), /\bAllow\b/, 'a browser app may read the methods a 405 allows');
  t.match(String(refused.headers['access-control-expose-headers']), /\bContent-Range\b.*\bAccept-Ranges\b/, 'a browser viewer may resume a download');
  const bare = await app.inject({ method: 'OPTIONS', url: '/fhir/Patient' });
  t.equal(bare.statusCode, 204, 'an OPTIONS without preflight headers is no plain-text 400');
  t.notOk(bare.headers['access-control-allow-methods'], 'no preflight permission for a request naming no origin');
});

t.test('software calling from a server gets no CORS headers, and caches keep the two kinds of answer apart', async (t) => {
  const { app } = await buildTestServer(t);
  const fromServer = await app.inject({ url: '/fhir/metadata' });
  t.equal(fromServer.statusCode, 200);
  t.notOk(fromServer.headers['access-control-allow-origin']);
  t.notOk(fromServer.headers['access-control-expose-headers']);
  t.match(String(fromServer.headers.vary), /\bOrigin\b/);
  const fromPage = await app.inject({ url: '/fhir/metadata', headers: { origin: 'https://booking.example' } });
  t.equal(fromPage.headers['access-control-allow-origin'], '*');
  t.match(String(fromPage.headers.vary), /\bOrigin\b/);
  const preflightAnswer = await app.inject({ method: 'OPTIONS', url: '/fhir/Patient/123', headers: { origin: 'https://booking.example', ...preflight } });
  t.match(String(preflightAnswer.headers.vary), /Access-Control-Request-Headers/, 'the allowed headers echo the request\'s');
  t.equal(preflightAnswer.headers['access-control-max-age'], '600');
  const unknownPath = await app.inject({ method: 'OPTIONS', url: '/nowhere', headers: { origin: 'https://booking.example', ...preflight } });
  t.equal(unknownPath.statusCode, 204, 'a preflight is answered before routing decides anything');
});

t.test('CORS_ORIGINS limits the pages that may read the answers', async (t) => {
  const { app } = await buildTestServer(t, { config: { corsOrigins: ['https://booking.example'] } });
  const allowed = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin: 'https://booking.example', ...preflight } });
  t.equal(allowed.headers['access-control-allow-origin'], 'https://booking.example');
  const other = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin: 'https://evil.example', ...preflight } });
  t.notOk(other.headers['access-control-allow-origin'], 'another origin gets no permission');
  const metadata = await app.inject({ url: '/fhir/metadata', headers: { origin: 'https://evil.example' } });
  t.equal(metadata.statusCode, 200);
  t.notOk(metadata.headers['access-control-allow-origin']);
});

t.test('CORS_ORIGINS is validated', async (t) => {
  t.same(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example/' }).corsOrigins, ['https://a.example', 'https://b.example']);
  t.throws(() => loadConfig({ CORS_ORIGINS: 'a.example' }), /corsOrigins/);
  t.throws(() => loadConfig({ CORS_ORIGINS: 'https://a.example/path' }), /corsOrigins/);
});

// Found in review: answers made before the CORS hook ran (a URL whose percent-encoding is
// broken, in the path or in the query) carried no CORS headers, so a page could not read them.
t.test('a page can read why its URL was refused', async (t) => {
  const { app } = await buildTestServer(t);
  for (const url of ['/fhir/Patient/%zz', '/fhir/Patient?name=%E0%A4%A']) {
    const res = await app.inject({ url, headers: { origin: 'https://booking.example' } });
    t.equal(res.statusCode, 400, url);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ details: { coding: [{ code: 'FHIR_ERR_HTTP_BAD_REQUEST' }] } }] });
    t.equal(res.headers['access-control-allow-origin'], '*', `${url}: CORS headers`);
    t.match(String(res.headers['access-control-expose-headers']), /X-Request-Id/);
    t.match(String(res.headers.vary), /\bOrigin\b/);
    const fromServer = await app.inject({ url });
    t.notOk(fromServer.headers['access-control-allow-origin'], `${url}: none without Origin`);
  }
});

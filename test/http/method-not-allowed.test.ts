import t from 'tap';
import type { Test } from 'tap';
import { buildTestServer } from '../helpers/server.js';

// A method the path does not define is a 405 naming the methods it does (Allow), not a 404 or a 400
// from the route the URL happened to look like; and a `$name` operation this server does not
// implement is said to be one, not taken for a resource type or id.
const FHIR = 'application/fhir+json';
const ERROR_CODES = 'https://carnet.dev/fhir/CodeSystem/error-code';
type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

t.test('wrong methods and unknown operations', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const send = (method: Method, url: string, options: { token?: boolean; body?: unknown } = {}) => app.inject({
    method, url,
    headers: {
      ...(options.token === false ? {} : { authorization }),
      ...(options.body !== undefined ? { 'content-type': FHIR } : {}),
    },
    ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
  });
  const created = await send('POST', '/fhir/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Allowed' }] } });
  t.equal(created.statusCode, 201);
  const id = (created.json() as { id: string }).id;

  async function expect405(t: Test, method: Method, url: string, allow: string, options: { token?: boolean; body?: unknown } = {}) {
    const res = await send(method, url, options);
    t.equal(res.statusCode, 405, `${method} ${url}: 405`);
    t.equal(res.headers.allow, allow, `${method} ${url}: Allow`);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
    t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', diagnostics: /\S/, details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_METHOD' }] } }] },
      `${method} ${url}: OperationOutcome`);
  }

  t.test('/fhir/metadata is read only (public: no token needed for the 405 either)', async (t) => {
    for (const method of ['DELETE', 'PUT', 'PATCH'] as const) await expect405(t, method, '/fhir/metadata', 'GET, HEAD');
    await expect405(t, 'POST', '/fhir/metadata', 'GET, HEAD');
    await expect405(t, 'PUT', '/fhir/metadata', 'GET, HEAD', { body: { resourceType: 'Patient' } });
    await expect405(t, 'DELETE', '/fhir/metadata', 'GET, HEAD', { token: false });
    t.equal((await send('HEAD', '/fhir/metadata', { token: false })).statusCode, 200, 'HEAD is answered, as Allow says');
    t.equal((await send('GET', '/fhir/metadata', { token: false })).statusCode, 200, 'GET still served');
  });

  t.test('the FHIR discovery documents are read only', async (t) => {
    for (const url of ['/fhir/.well-known/smart-configuration', '/fhir/.well-known/openid-configuration']) {
      await expect405(t, 'POST', url, 'GET, HEAD', { token: false });
      await expect405(t, 'DELETE', url, 'GET, HEAD');
      t.equal((await send('GET', url, { token: false })).statusCode, 200, `GET ${url} still served`);
    }
  });

  t.test('instance and version paths name HEAD too, as the new paths do', async (t) => {
    await expect405(t, 'POST', `/fhir/Patient/${id}`, 'GET, HEAD, PUT, PATCH, DELETE');
    await expect405(t, 'PATCH', '/fhir/Patient', 'GET, HEAD, POST, PUT, DELETE');
    await expect405(t, 'PUT', `/fhir/Patient/${id}/_history/1`, 'GET, HEAD', { body: { resourceType: 'Patient', id } });
  });

  t.test('system history: GET only', async (t) => {
    for (const method of ['DELETE', 'POST', 'PUT', 'PATCH'] as const) await expect405(t, method, '/fhir/_history', 'GET, HEAD');
    await expect405(t, 'POST', '/fhir/_history', 'GET, HEAD', { body: { resourceType: 'Patient' } });
    const history = await send('GET', '/fhir/_history');
    t.equal(history.statusCode, 200);
    t.match(history.json(), { resourceType: 'Bundle', type: 'history' });
  });

  t.test('type history: GET only', async (t) => {
    for (const method of ['DELETE', 'POST', 'PUT', 'PATCH'] as const) await expect405(t, method, '/fhir/Patient/_history', 'GET, HEAD');
    await expect405(t, 'PUT', '/fhir/Patient/_history', 'GET, HEAD', { body: { resourceType: 'Patient', id: '_history' } });
    // Binary and Subscription have routes of their own at /Binary/:id and /Subscription/:id.
    for (const type of ['Binary', 'Subscription']) {
      for (const method of ['DELETE', 'POST', 'PUT', 'PATCH'] as const) await expect405(t, method, `/fhir/${type}/_history`, 'GET, HEAD');
    }
    const history = await send('GET', '/fhir/Patient/_history');
    t.equal(history.statusCode, 200);
    t.match(history.json(), { resourceType: 'Bundle', type: 'history', entry: [{ resource: { resourceType: 'Patient', id } }] });
    t.equal((await send('GET', '/fhir/Binary/_history')).statusCode, 200);
  });

  t.test('instance history: GET only; vread and the versions still as before', async (t) => {
    for (const method of ['DELETE', 'POST', 'PUT', 'PATCH'] as const) await expect405(t, method, `/fhir/Patient/${id}/_history`, 'GET, HEAD');
    await expect405(t, 'PUT', `/fhir/Binary/${id}/_history`, 'GET, HEAD');
    const history = await send('GET', `/fhir/Patient/${id}/_history`);
    t.equal(history.statusCode, 200);
    t.match(history.json(), { resourceType: 'Bundle', type: 'history' });
    t.equal((await send('GET', `/fhir/Patient/${id}/_history/1`)).statusCode, 200, 'vread');
    t.equal((await send('DELETE', `/fhir/Patient/${id}/_history/1`)).statusCode, 405, 'a version still cannot be deleted');
  });

  t.test('the base: GET (search) and POST (batch/transaction) only', async (t) => {
    for (const url of ['/fhir', '/fhir/']) {
      for (const method of ['DELETE', 'PUT', 'PATCH'] as const) await expect405(t, method, url, 'GET, HEAD, POST');
    }
    t.equal((await send('GET', '/fhir/?_type=Patient')).statusCode, 200, 'system search');
    const batch = await send('POST', '/fhir', { body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${id}` } }] } });
    t.equal(batch.statusCode, 200, 'batch');
    t.match(batch.json(), { type: 'batch-response', entry: [{ response: { status: '200' } }] });
  });

  t.test('_search: POST only', async (t) => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
      await expect405(t, method, '/fhir/_search', 'POST');
      await expect405(t, method, '/fhir/Patient/_search', 'POST');
    }
    await expect405(t, 'GET', '/fhir/Binary/_search', 'POST');
    const search = await app.inject({ method: 'POST', url: '/fhir/Patient/_search', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload: `_id=${id}` });
    t.equal(search.statusCode, 200);
    t.match(search.json(), { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { id } }] });
  });

  t.test('a protected path still asks for a token first', async (t) => {
    for (const [method, url] of [['DELETE', '/fhir/_history'], ['POST', '/fhir/Patient/_history'], ['PUT', `/fhir/Patient/${id}/_history`], ['DELETE', '/fhir/'], ['GET', '/fhir/Patient/_search'], ['GET', '/fhir/Patient/p1/$everything']] as const) {
      const res = await send(method, url, { token: false });
      t.equal(res.statusCode, 401, `${method} ${url}`);
      t.notOk(res.headers.allow);
    }
  });

  t.test('the root endpoints: /health, the issuer discovery, /auth/jwks', async (t) => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
      for (const url of ['/health', '/.well-known/openid-configuration']) await expect405(t, method, url, 'GET, HEAD', { token: false });
      // An OAuth endpoint answers an OAuth error (as another method on /auth/token does).
      const jwks = await send(method, '/auth/jwks', { token: false });
      t.equal(jwks.statusCode, 405, `${method} /auth/jwks`);
      t.equal(jwks.headers.allow, 'GET, HEAD');
      t.match(jwks.json(), { error: 'invalid_request', error_description: /GET/ });
    }
    for (const url of ['/auth/jwks', '/health', '/.well-known/openid-configuration']) t.equal((await send('GET', url, { token: false })).statusCode, 200, `GET ${url}`);
  });

  t.test('an operation this server does not implement is said to be one; implemented ones still work', async (t) => {
    for (const [method, url, name] of [
      ['GET', `/fhir/Patient/${id}/$everything`, '$everything'],
      ['POST', `/fhir/Patient/${id}/$everything`, '$everything'],
      ['GET', '/fhir/Patient/$everything', '$everything'],
      ['GET', '/fhir/$export', '$export'],
      ['POST', '/fhir/$process-message', '$process-message'],
      ['GET', '/fhir/Binary/$export', '$export'],
      ['GET', `/fhir/Subscription/${id}/$status`, '$status'],
      ['POST', '/fhir/Observation/$lastn', '$lastn'],
      // Clients that percent-encode every `$` mean the same operation, not an id or a type.
      ['GET', '/fhir/Patient/%24everything', '$everything'],
      ['GET', `/fhir/Patient/${id}/%24everything`, '$everything'],
      ['GET', '/fhir/%24export', '$export'],
    ] as const) {
      const res = await send(method, url, method === 'POST' ? { body: { resourceType: 'Parameters' } } : {});
      t.equal(res.statusCode, 404, `${method} ${url}`);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported',
        diagnostics: new RegExp(`operation \\${name} is not supported by this server`),
        details: { coding: [{ system: ERROR_CODES, code: 'FHIR_ERR_HTTP_NO_ROUTE' }] } }] }, `${method} ${url}`);
    }

    const valid = await send('POST', '/fhir/Patient/$validate', { body: { resourceType: 'Patient' } });
    t.equal(valid.statusCode, 200);
    t.match(valid.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'information' }] });
    t.equal((await send('POST', `/fhir/Patient/${id}/$validate`, { body: { resourceType: 'Patient', id } })).statusCode, 200);
    t.equal((await send('POST', '/fhir/Patient/%24validate', { body: { resourceType: 'Patient' } })).statusCode, 200, 'an encoded $ reaches the operation');
    // In the query, %24 is a value's own text and stays so.
    const searched = await send('GET', '/fhir/Patient?name=%24x');
    t.equal(searched.statusCode, 200);
    t.match(searched.json().link, [{ relation: 'self', url: /name=%24x/ }]);
    await expect405(t, 'GET', '/fhir/Patient/$validate', 'POST');
    // $deliveries is routed (an unknown Subscription is a 404 of the store, not "not supported").
    const deliveries = await send('GET', '/fhir/Subscription/nobody/$deliveries');
    t.equal(deliveries.statusCode, 404);
    t.match(deliveries.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_STORE_NOT_FOUND' }] } }] });
    // Compartment search, read and search are untouched.
    t.equal((await send('GET', `/fhir/Patient/${id}/Observation`)).statusCode, 200);
    t.equal((await send('GET', `/fhir/Patient/${id}`)).statusCode, 200);
    t.equal((await send('GET', '/fhir/Patient?_count=1')).statusCode, 200);
  });

  t.test('an implemented operation at a level it is not offered at says where it is', async (t) => {
    const res = await send('POST', '/fhir/$validate', { body: { resourceType: 'Patient' } });
    t.equal(res.statusCode, 404);
    t.match(res.json(), { issue: [{ code: 'not-supported', diagnostics: /\$validate is not offered at the system level.*\[type\]\/\$validate/ }] });
    await expect405(t, 'GET', '/fhir/Binary/$validate', 'POST');
  });
});

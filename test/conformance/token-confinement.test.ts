import t from 'tap';
import { HttpClient } from '../../conformance/runner/http-client.js';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { CheckResult, RunResult } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { SuiteId } from '../../conformance/runner/types.js';
import { startFakeFhir } from './fake-fhir.js';
import { startFakeMhd } from './fake-mhd.js';

/**
 * The run's bearer token goes to the server under test only: never to a host a
 * server names (a search's next link, a DocumentReference's attachment.url).
 */

const TOKEN = 'run-token-secret-0123456789';

function only(ids: string[]): Suite[] {
  const suites = [...new Set(ids.map((id) => id.split('.')[0] as SuiteId))];
  return selectSuites(suites).map((s) => ({ ...s, checks: s.checks.filter((c) => ids.includes(c.id)) }));
}

function result(run: RunResult, id: string): CheckResult | undefined {
  return run.suites.flatMap((s) => s.checks).find((c) => c.id === id);
}

t.test('HttpClient sends a token under the base and to the token endpoint only', async (t) => {
  const server = await startFakeFhir(t);
  const other = await startFakeFhir(t);
  const http = new HttpClient(server.base, () => {}, async () => TOKEN, 5000, undefined, [`${other.origin}/auth/token`]);
  await http.get('Patient');
  await http.get(`${server.base}/Patient?x=1`);
  t.same(server.requests.map((r) => r.authorization), [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`], 'under the base: sent with the token');
  for (const url of [`${other.base}/Patient`, `${server.origin}/admin`, `${server.origin}/fhir-other/Patient`, `${server.base.replace('127.0.0.1', 'localhost')}/Patient`]) {
    await t.rejects(http.get(url), { name: 'TokenWithheld', message: new RegExp(`^GET ${url.replace(/[.?]/g, '\\$&')} was not sent: it is outside the FHIR base`) }, url);
    await t.rejects(http.get(url, { auth: { token: 'an-actor-token' } }), { name: 'TokenWithheld' }, `${url}, an actor's token`);
  }
  t.equal(other.requests.length, 0, 'nothing reached another host');
  await http.request({ method: 'POST', path: `${other.origin}/auth/token`, body: 'x' });
  t.equal(other.requests.at(-1)?.authorization, `Bearer ${TOKEN}`, 'the token endpoint is allowed');
  await http.get(`${other.base}/Patient`, { auth: 'none' });
  t.equal(other.requests.at(-1)?.authorization, undefined, 'a request without a token may go anywhere');
});

t.test('a next link to another host fails the check, and the token is not sent there', async (t) => {
  const other = await startFakeFhir(t);
  const server = await startFakeFhir(t, {
    resources: [{ type: 'Patient', interaction: [{ code: 'create' }, { code: 'update' }, { code: 'read' }, { code: 'history-instance' }, { code: 'search-type' }] }],
    handle: (req) => {
      if (req.method === 'POST' && req.path === '/fhir/Patient') return { status: 201, body: { ...(req.json as object), id: 'p1', meta: { versionId: '1' } } };
      if (req.method === 'PUT') return { status: 200, body: req.json };
      if (req.path === '/fhir/Patient/p1/_history') {
        return {
          status: 200,
          body: {
            resourceType: 'Bundle', type: 'history', link: [{ relation: 'next', url: `${other.base}/Patient/p1/_history?page=2` }],
            entry: [{ resource: { resourceType: 'Patient', id: 'p1', meta: { versionId: '3' } } }],
          },
        };
      }
      return undefined;
    },
  });
  const run = await runConformance({ base: server.base, suites: only(['rest.history.paging']), auth: { kind: 'static', token: TOKEN } });
  const r = result(run, 'rest.history.paging');
  t.equal(r?.outcome, 'failed');
  t.equal(r?.message, `history: the next link ${other.base}/Patient/p1/_history?page=2 leads outside the server's base ${server.base}: a paging link must stay on the server (nothing was sent there)`);
  t.same(other.requests, [], 'the other host got no request, hence no token');
});

t.test('an attachment.url on another host is not fetched with the token: ITI-68 is skipped, naming the URL', async (t) => {
  const other = await startFakeFhir(t);
  const server = await startFakeMhd(t, { attachmentBase: other.base });
  const run = await runConformance({ base: server.base, suites: only(['mhd.iti68.bytes']), auth: { kind: 'static', token: TOKEN } });
  const r = result(run, 'mhd.iti68.bytes');
  t.equal(r?.outcome, 'skipped');
  t.match(r?.message, new RegExp(`^attachment.url ${other.base.replace(/[.]/g, '\\.')}/Binary/binary\\d+ is outside the FHIR base ${server.base.replace(/[.]/g, '\\.')}: the kit sends its token to no other host`));
  t.same(other.requests, [], 'the other host got no request, hence no token');
});

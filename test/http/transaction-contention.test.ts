import t from 'tap';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

// A transaction takes the turns of the resources it writes by id, as direct writes to them do
// (store/resource-turns.ts): under contention it behaves as the same PUTs sent one after the other.
// It used to prepare on the versions it read and fail its commit with a 409 when one moved: with 10
// clients PUTting one resource, a one-entry transaction PUT failed 100 times out of 100, and two
// transactions creating the same new id gave a 201 and a 409 (exploratory findings t5, t11, t12).
// No assertion retries: each transaction must succeed the first time.

const FHIR = 'application/fhir+json';

t.test('transactions among concurrent writes to the same resources', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR };
  const put = (id: string, body: Record<string, unknown>) => app.inject({ method: 'PUT', url: `/fhir/Basic/${id}`, headers, payload: { resourceType: 'Basic', id, code: { text: 'c' }, ...body } });
  const transaction = (entry: BundleEntry[]) => app.inject({ method: 'POST', url: '/fhir', headers, payload: { resourceType: 'Bundle', type: 'transaction', entry } });
  const putEntry = (type: string, id: string, body: Record<string, unknown>, ifMatch?: string): BundleEntry => ({
    resource: { resourceType: type, id, ...body } as BundleEntry['resource'], request: { method: 'PUT', url: `${type}/${id}`, ...(ifMatch ? { ifMatch } : {}) },
  });
  const patchEntry = (type: string, id: string, operations: unknown[]): BundleEntry => ({
    resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(operations)).toString('base64') },
    request: { method: 'PATCH', url: `${type}/${id}` },
  });
  const history = async (type: string, id: string) => ((await app.inject({ url: `/fhir/${type}/${id}/_history?_count=1000`, headers: { authorization } })).json() as Bundle).entry ?? [];
  const versions = async (type: string, id: string) => (await history(type, id)).map((e) => Number(e.resource!.meta!.versionId)).sort((a, b) => a - b);
  const contiguous = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const statuses = (responses: Array<{ statusCode: number; body: string }>) => responses.map((r) => (r.statusCode === 200 ? (JSON.parse(r.body) as Bundle).entry!.map((e) => e.response!.status!.slice(0, 3)).join('+') : `${r.statusCode} ${r.body.slice(0, 160)}`));

  t.test('a one-entry transaction PUT among 10 clients PUTting the same resource: every one lands first time', async (t) => {
    t.equal((await put('busy', {})).statusCode, 201);
    let stop = false;
    let direct = 0;
    const writers = Array.from({ length: 10 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const res = await put('busy', { extension: [{ url: 'urn:w', valueString: `${w}-${i}` }] });
        if (res.statusCode !== 200) throw new Error(`direct PUT answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
        direct++;
      }
    });
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) {
      // Several at once too: each waits for its turn, none fails.
      const responses = await Promise.all(Array.from({ length: 3 }, (_, k) => transaction([putEntry('Basic', 'busy', { code: { text: 'c' }, extension: [{ url: 'urn:tx', valueString: `tx-${i}-${k}` }] })])));
      answers.push(...statuses(responses));
    }
    stop = true;
    await Promise.all(writers);
    t.same(answers, Array.from({ length: 30 }, () => '200'), 'every transaction succeeded the first time');
    t.ok(direct > 0, `the direct writers wrote meanwhile (${direct})`);
    t.same(await versions('Basic', 'busy'), contiguous(1 + direct + 30), 'one version per write, contiguous, none lost');
  });

  t.test('overlapping transactions (PATCH two of four, PUT a shared one, POST a new one): all commit, no patch lost', async (t) => {
    const ids = ['ov0', 'ov1', 'ov2', 'ov3'];
    for (const id of ids) t.equal((await app.inject({ method: 'PUT', url: `/fhir/Observation/${id}`, headers, payload: { resourceType: 'Observation', id, status: 'final', code: { text: 'ov' }, note: [{ text: 'n0' }] } })).statusCode, 201);
    const N = 60;
    t.equal((await put('ov-shared', {})).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => transaction([
      patchEntry('Observation', ids[i % 4]!, [{ op: 'add', path: '/valueString', value: `t${i}` }]),
      patchEntry('Observation', ids[(i + 1) % 4]!, [{ op: 'add', path: '/note/-', value: { text: `t${i}` } }]),
      putEntry('Basic', 'ov-shared', { code: { text: `t${i}` } }),
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, identifier: [{ system: 'urn:ov', value: `t${i}` }] }, request: { method: 'POST', url: 'Observation' } },
    ])));
    t.same(statuses(responses), Array.from({ length: N }, () => '200+200+200+201'), 'every transaction committed the first time');
    t.same(await versions('Basic', 'ov-shared'), contiguous(1 + N), 'the resource they all PUT: one version each');
    for (const id of ids) {
      t.same(await versions('Observation', id), contiguous(1 + N / 2), `${id}: versions contiguous, one per entry that wrote it`);
      const stored = (await app.inject({ url: `/fhir/Observation/${id}`, headers: { authorization } })).json();
      t.equal(stored.note.length, 1 + N / 4, `${id}: every patch kept`);
    }
  });

  t.test('transactions writing the same resources in opposite orders never wait for each other in a circle', async (t) => {
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => transaction(i % 2
      ? [putEntry('Basic', 'ring-a', { code: { text: `a${i}` } }), putEntry('Basic', 'ring-b', { code: { text: `b${i}` } }), putEntry('Basic', 'ring-c', { code: { text: `c${i}` } })]
      : [putEntry('Basic', 'ring-c', { code: { text: `c${i}` } }), putEntry('Basic', 'ring-b', { code: { text: `b${i}` } }), putEntry('Basic', 'ring-a', { code: { text: `a${i}` } })])));
    const answers = statuses(responses);
    t.ok(answers.every((a) => /^(200|201)\+(200|201)\+(200|201)$/.test(a)), `all committed: ${[...new Set(answers)].join(', ')}`);
    for (const id of ['ring-a', 'ring-b', 'ring-c']) t.same(await versions('Basic', id), contiguous(40), `${id}: 40 versions`);
  });

  t.test('transactions creating the same new id: one 201, then 200s, as PUTs over REST', async (t) => {
    for (const n of [2, 12]) {
      const id = `new-${n}`;
      const responses = await Promise.all(Array.from({ length: n }, (_, i) => transaction([putEntry('Basic', id, { code: { text: `n${i}` } })])));
      const answers = statuses(responses);
      t.equal(answers.filter((a) => a === '201').length, 1, `${n} at once: one created it (${answers.join(', ')})`);
      t.equal(answers.filter((a) => a === '200').length, n - 1, `${n} at once: the others updated it`);
      t.same(await versions('Basic', id), contiguous(n));
    }
  });

  t.test('with If-Match, a stale version is a 412 (never a 409), also among direct writes', async (t) => {
    t.equal((await put('guarded', {})).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 4 === 3
      ? put('guarded', { code: { text: `d${i}` } })
      : transaction([putEntry('Basic', 'guarded', { code: { text: `t${i}` } }, 'W/"1"')]))));
    const transactions = responses.filter((_, i) => i % 4 !== 3);
    const codes = transactions.map((r) => (r.statusCode === 200 ? 200 : r.statusCode));
    t.ok(codes.every((c) => c === 200 || c === 412), `200 or 412 only: ${codes.join(' ')}`);
    t.ok(codes.filter((c) => c === 200).length <= 1, 'at most one transaction replaced version 1');
    t.ok(responses.filter((_, i) => i % 4 === 3).every((r) => r.statusCode === 200), 'the direct writes all landed');
    t.same(await versions('Basic', 'guarded'), contiguous(1 + 5 + codes.filter((c) => c === 200).length));
  });

  t.test('a conditional transaction PUT among direct PUTs to its match: every one lands', async (t) => {
    const identifier = [{ system: 'urn:race', value: 'tx-conditional' }];
    t.equal((await put('cond', { identifier })).statusCode, 201);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2
      ? put('cond', { identifier, code: { text: `d${i}` } })
      : transaction([{ resource: { resourceType: 'Basic', identifier, code: { text: `t${i}` } }, request: { method: 'PUT', url: 'Basic?identifier=urn:race|tx-conditional' } }]))));
    t.ok(responses.every((r) => r.statusCode === 200), `all 200: ${responses.filter((r) => r.statusCode !== 200).map((r) => r.body.slice(0, 200)).join(' | ')}`);
    t.same(statuses(responses.filter((_, i) => i % 2 === 0)), Array.from({ length: 15 }, () => '200'));
    t.same(await versions('Basic', 'cond'), contiguous(31));
  });
});

import t from 'tap';
import type { Test } from 'tap';
import type { AuditEvent } from '@medplum/fhirtypes';
import { AUDIT_LOG_NS, AuditTrail } from '../../src/audit/audit-trail.js';
import type { AuditedRequest, AuditTrailOptions } from '../../src/audit/audit-trail.js';
import type { AuditRecord } from '../../src/audit/audit-event.js';
import { toAuditRecord } from '../helpers/audit-records.js';
import type { Principal } from '../../src/auth/principal.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { Repository } from '../../src/store/repository.js';
import { tempDir } from '../helpers/tokens.js';

const quiet = { warn: () => undefined, info: () => undefined };
const logger = { error: () => undefined } as never;
const system: Principal = { kind: 'system', clientId: 'dpi', subject: 'dpi', scopes: [], scope: 'system/*.rs', tokenId: 'jti-1', expiresAt: 0 };

async function openStore(t: Test, dataDir?: string): Promise<{ engine: StoreEngine; repository: Repository; dataDir: string }> {
  const dir = dataDir ?? (await tempDir(t, 'carnet-audit-'));
  const engine = createEmbeddedEngine({ dataDir: dir, log: quiet });
  await engine.open();
  return { engine, repository: new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 1000 } }), dataDir: dir };
}

function trail(repository: Repository, options: AuditTrailOptions = {}): AuditTrail {
  // Background work off unless a test asks for it: each test drives materialisation itself.
  return new AuditTrail(repository, logger, { idleAfterMs: 60_000, ...options });
}

/** One object per request name and trail: what the guard passes as the request. */
const requests = new WeakMap<AuditTrail, Map<string, AuditedRequest>>();

function read(audit: AuditTrail, request: string, id: string, patient = 'Patient/p1', given?: AuditedRequest): void {
  let mine = requests.get(audit);
  if (!mine) requests.set(audit, (mine = new Map()));
  let owner = given ?? mine.get(request);
  if (!owner) mine.set(request, (owner = { auditRows: null }));
  audit.record({ principal: system, action: 'r', interaction: 'read', resourceType: 'Observation', id, compartments: [patient], allowed: true, rule: 'system-scope', reason: 'scope', requestId: request }, owner);
}

async function events(engine: StoreEngine): Promise<AuditEvent[]> {
  const found = await engine.find({ types: ['AuditEvent'], filter: {}, sort: [['id', 1]], limit: 1000 });
  return found.map((r) => JSON.parse(r.json) as AuditEvent);
}

async function eventually(t: Test, what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return void t.pass(what);
    await new Promise((r) => setTimeout(r, 10));
  }
  t.fail(what);
}

t.test('an access is an AuditEvent once the trail settles, with the time of the access', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  let now = Date.parse('2026-11-23T08:00:00.000Z');
  const audit = trail(repository, { now: () => now });
  read(audit, 'req-1', 'o1');
  now += 60_000;
  t.same(await events(engine), [], 'nothing is materialised on the request path');
  await audit.settle();
  const [event, ...others] = await events(engine);
  t.same(others, []);
  t.equal(event?.recorded, '2026-11-23T08:00:00.000Z', 'recorded is when the access happened, not when it was materialised');
  t.same(event?.entity?.map((e) => e.what?.reference), ['Observation/o1', 'Patient/p1']);
  t.same(await engine.kv.list(AUDIT_LOG_NS), [], 'the audit log is emptied once materialised');
});

t.test('decisions of one request about the same patient share one AuditEvent', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const audit = trail(repository);
  read(audit, 'req-1', 'o1');
  read(audit, 'req-1', 'o2');
  read(audit, 'req-1', 'o1');
  read(audit, 'req-2', 'o3');
  read(audit, 'req-1', 'o4', 'Patient/p2');
  await audit.settle();
  const found = await events(engine);
  t.equal(found.length, 3);
  const first = found.find((e) => e.source?.site === 'req-1' && e.entity?.some((x) => x.what?.reference === 'Patient/p1'));
  t.same(first?.entity?.map((e) => e.what?.reference), ['Observation/o1', 'Observation/o2', 'Patient/p1']);
});

t.test('two requests sent with the same X-Request-ID stay two AuditEvents', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const audit = trail(repository);
  read(audit, 'same-id', 'o1', 'Patient/p1', { auditRows: null });
  read(audit, 'same-id', 'o2', 'Patient/p1', { auditRows: null });
  await audit.settle();
  const found = await events(engine);
  t.equal(found.length, 2);
  t.same(found.map((e) => e.source?.site), ['same-id', 'same-id']);
});

t.test("a decision made after its request's first records became durable is its own AuditEvent", async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const audit = trail(repository);
  read(audit, 'long', 'o1');
  await audit.settle();
  read(audit, 'long', 'o2');
  await audit.settle();
  const found = await events(engine);
  t.same(found.map((e) => e.entity?.[0]?.what?.reference).sort(), ['Observation/o1', 'Observation/o2'], 'the second access is not lost in the first, already written event');
});

t.test('accesses logged before a stop are materialised after the restart, each once', async (t) => {
  const first = await openStore(t);
  const before = trail(first.repository);
  read(before, 'req-1', 'o1');
  read(before, 'req-2', 'o2');
  await before.close();
  const logged = await first.engine.kv.list<AuditRecord[]>(AUDIT_LOG_NS);
  t.equal(logged.length, 1, 'close makes the records durable in the audit log');
  t.same(await events(first.engine), [], 'without materialising them');
  await first.engine.close();

  const second = await openStore(t, first.dataDir);
  t.teardown(() => second.engine.close());
  const after = trail(second.repository);
  await after.start();
  await after.settle();
  t.same((await events(second.engine)).map((e) => e.source?.site).sort(), ['req-1', 'req-2']);

  // A crash between the AuditEvents' commit and the log's cleanup leaves the batch behind: materialised again, it writes nothing twice.
  await second.engine.kv.put(AUDIT_LOG_NS, logged[0]!.key, logged[0]!.value);
  const again = trail(second.repository);
  await again.settle();
  t.equal((await events(second.engine)).length, 2);
  t.same(await second.engine.kv.list(AUDIT_LOG_NS), []);
});

t.test('materialised AuditEvents are found and sorted by their parameters, before and after a restart', async (t) => {
  const first = await openStore(t);
  let clock = Date.parse('2026-11-23T08:00:00.000Z');
  const audit = trail(first.repository, { now: () => (clock += 1000) });
  read(audit, 'req-1', 'o1');
  read(audit, 'req-2', 'o2', 'Patient/p2');
  audit.record({ principal: system, action: 'c', interaction: 'create', resourceType: 'Observation', id: 'o3', compartments: ['Patient/p1'], allowed: false, rule: 'blocked', reason: 'blocked', requestId: 'req-3' });
  await audit.settle();
  const sites = async (engine: StoreEngine, query: string) => {
    const request = first.repository.parseSearch(['AuditEvent'], [...new URLSearchParams(query)], true);
    const found = await new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 1000 } }).search(request);
    const sites = found.matches.map((r) => (JSON.parse(r.json) as AuditEvent).source?.site);
    return query.includes('_sort') ? sites : sites.sort();
  };
  const expectations: Array<[string, string[]]> = [
    ['subtype=read', ['req-1', 'req-2']],
    ['subtype=http://hl7.org/fhir/restful-interaction|create', ['req-3']],
    ['action=R', ['req-1', 'req-2']],
    ['outcome=4', ['req-3']],
    ['type=rest', ['req-1', 'req-2', 'req-3']],
    ['entity-type=1&patient=Patient/p2', ['req-2']],
    ['patient=Patient/p1&outcome=0', ['req-1']],
    // An AuditEvent has 22 sort keys, which the embedded store keeps in a compact copy: still in force.
    ['_sort=-date', ['req-3', 'req-2', 'req-1']],
    ['_sort=date', ['req-1', 'req-2', 'req-3']],
  ];
  for (const [query, expected] of expectations) t.same(await sites(first.engine, query), expected, query);
  await first.engine.close();
  const second = await openStore(t, first.dataDir);
  t.teardown(() => second.engine.close());
  for (const [query, expected] of expectations) t.same(await sites(second.engine, query), expected, `${query}, after the journal is replayed`);
});

t.test('the backlog is materialised in the background when the server is quiet', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const audit = trail(repository, { persistAfterMs: 5, idleAfterMs: 20 });
  t.teardown(() => audit.close());
  read(audit, 'req-1', 'o1');
  await eventually(t, 'materialised without anyone asking', async () => (await events(engine)).length === 1);
  t.equal(audit.pendingEvents, 0);
});

t.test('under constant load, a backlog over its bound is materialised anyway', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const warnings: string[] = [];
  const audit = new AuditTrail(repository, { error: () => undefined, warn: (_o: unknown, msg: string) => warnings.push(msg) } as never, { persistAfterMs: 5, idleAfterMs: 20, maxBacklog: 2 });
  t.teardown(() => audit.close());
  const busy = setInterval(() => audit.touch(), 1);
  t.teardown(() => clearInterval(busy));
  for (let i = 0; i < 5; i++) read(audit, `req-${i}`, `o${i}`);
  await eventually(t, 'materialised while busy', async () => (await events(engine)).length >= 3);
  t.equal(warnings.length, 1, 'operators are told once');
  t.match(warnings[0], /backlog over its bound/);
});

t.test('a batch another replica materialised first is not written again, and leaves no backlog', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const one = trail(repository);
  const other = trail(repository);
  read(one, 'req-1', 'o1');
  read(one, 'req-2', 'o2');
  await one.close();
  await other.start();
  t.equal(other.pendingEvents, 2, 'the other replica adopts the logged batch');
  const third = trail(repository);
  await third.settle();
  t.equal((await events(engine)).length, 2, 'materialised by a third one, which removes the batch from the log');
  await other.settle();
  t.equal(other.pendingEvents, 0, 'the adopter drops the batch that is gone from the log');
  t.equal((await events(engine)).length, 2, 'and writes nothing');
});

t.test('batches logged by earlier versions (plain record arrays, then form 2, each in its own namespace) are materialised too', async (t) => {
  const { engine, repository } = await openStore(t);
  t.teardown(() => engine.close());
  const record = toAuditRecord({ principal: system, action: 'r', interaction: 'read', resourceType: 'Observation', id: 'old1', compartments: ['Patient/p1'],
    allowed: true, rule: 'system-scope', reason: 'scope', requestId: 'before-upgrade' }, 'earlier-event-1', Date.parse('2026-11-20T10:00:00.000Z'));
  await engine.kv.put('audit-log', '000000001-earlier', [record]);
  // Form 2: rows with their event id, epoch time and full references.
  await engine.kv.put('audit-log-2', '000000002-form-2', {
    v: 2, s: ['system', 'dpi', 'r', 'read', 'Observation', 'Patient/p1', 'system-scope', 'scope'],
    r: [['form-2-event', Date.parse('2026-11-21T10:00:00.000Z'), 0, 1, 1, -1, 2, 3, 4, ['Observation/old2'], [5], 1, 6, 7, 'form-2-request', -1, -1]],
  });
  const audit = trail(repository);
  await audit.start();
  read(audit, 'after-upgrade', 'new1');
  await audit.settle();
  const found = await events(engine);
  const label = (id: string | undefined) => (id === 'earlier-event-1' ? 'earlier' : id === 'form-2-event' ? 'form 2' : 'new');
  t.same(found.map((e) => [label(e.id), e.source?.site]).sort(), [['earlier', 'before-upgrade'], ['form 2', 'form-2-request'], ['new', 'after-upgrade']]);
  t.same(await engine.kv.list('audit-log'), [], 'the earlier namespaces are emptied');
  t.same(await engine.kv.list('audit-log-2'), []);
  t.same(await engine.kv.list(AUDIT_LOG_NS), []);
});

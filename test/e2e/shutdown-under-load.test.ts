import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import type { Test } from 'tap';
import { Agent, request } from 'undici';
import { createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';
import { childServerToken, startChildServer, stopChildServer } from '../helpers/child-server.js';
import type { ChildServer } from '../helpers/child-server.js';

/**
 * A clean stop (SIGTERM) under keep-alive load. It took about 70 s, holding
 * the data directory's LOCK: connections busy at SIGTERM stayed open after
 * their answer until the 72 s keep-alive timeout. Now: answers under way are
 * finished, every connection is closed as soon as it is idle, a connection
 * still busy after the grace period (8 s) is cut, then the store is closed.
 * Requests arriving meanwhile are refused with a 503 OperationOutcome.
 */
const EXIT_BOUND_MS = 15_000;

interface Started {
  server: ChildServer;
  bearer: string;
  dataDir: string;
  env: Record<string, string>;
}

async function startServer(t: Test, dataDir?: string, port?: string, extraEnv: Record<string, string> = {}): Promise<Started> {
  const dir = dataDir ?? await tempDir(t, 'carnet-shutdown-');
  const client = await createTestClient();
  const env = { DATA_DIR: dir, CLIENTS_FILE: await writeClientsFile(dir, [client]), LOG_LEVEL: 'info', ...(port ? { PORT: port } : {}), ...extraEnv };
  const server = await startChildServer(env);
  t.teardown(() => stopChildServer(server, 'SIGKILL'));
  const token = await childServerToken(server, client);
  return { server, bearer: `Bearer ${token}`, dataDir: dir, env };
}

/** Waits for the child's exit, at most `ms`: its exit code, or 'timeout' (the child is then killed). */
async function exitWithin(server: ChildServer, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([server.exited, new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); })]);
  clearTimeout(timer);
  if (result === 'timeout') server.process.kill('SIGKILL');
  return result;
}

/** A raw connection, for requests that undici would not send (half sent, stalled). */
async function rawConnection(url: string): Promise<{ socket: Socket; received: Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('utf8'); });
  const received = new Promise<string>((resolve) => {
    socket.once('close', () => resolve(text));
    socket.once('error', () => undefined);
  });
  return { socket, received };
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** What is wrong with a 503 answer (nothing if it is the shutdown OperationOutcome). */
function checkRefusal(answer: Answer): string[] {
  const problems: string[] = [];
  if (!String(answer.headers['content-type']).startsWith('application/fhir+json')) problems.push(`content-type ${answer.headers['content-type']}`);
  if (!/^\d+$/.test(String(answer.headers['retry-after']))) problems.push(`retry-after ${answer.headers['retry-after']}`);
  if (String(answer.headers.connection).toLowerCase() !== 'close') problems.push(`connection ${answer.headers.connection}`);
  let body: { resourceType?: string; issue?: Array<{ code?: string; details?: { coding?: Array<{ code?: string }> } }> } = {};
  try { body = JSON.parse(answer.body); } catch { problems.push(`body ${answer.body.slice(0, 100)}`); }
  if (body.resourceType !== 'OperationOutcome' || body.issue?.[0]?.code !== 'transient' || body.issue[0].details?.coding?.[0]?.code !== 'FHIR_ERR_HTTP_SHUTTING_DOWN') {
    problems.push(`body ${answer.body.slice(0, 200)}`);
  }
  return problems;
}

function parseRaw(text: string): Answer {
  const [head, ...rest] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n') };
}

t.test('SIGTERM under keep-alive load: answers under way complete, the process exits promptly, acknowledged writes survive', async (t) => {
  const { server, bearer, dataDir, env } = await startServer(t);
  // Keep-alive as long as the server allows (72 s), as the exploratory client did.
  const agent = new Agent({ connections: 16, pipelining: 1, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
  t.teardown(() => agent.destroy());
  const acknowledged: Array<{ id: string; marker: number }> = [];
  const refusals: string[] = [];
  let refused = 0;

  /** A create; with `gate`, its body is sent in two parts, the second once `gate` resolves. */
  const create = async (marker: number, gate?: { sending: () => void; open: Promise<unknown> }): Promise<Answer | Error> => {
    const json = JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: `load ${marker}` }, valueInteger: marker });
    const body = gate ? Readable.from((async function* () {
      yield json.slice(0, 10);
      gate.sending();
      await gate.open;
      yield json.slice(10);
    })()) : json;
    try {
      const res = await request(`${server.fhirBase}/Observation`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: bearer, 'content-type': 'application/fhir+json', 'content-length': String(Buffer.byteLength(json)) },
        body,
      });
      const answer = { status: res.statusCode, headers: res.headers, body: await res.body.text() };
      if (answer.status === 201) acknowledged.push({ id: (JSON.parse(answer.body) as { id: string }).id, marker });
      if (answer.status === 503) {
        refused++;
        for (const p of checkRefusal(answer)) refusals.push(p);
      }
      return answer;
    } catch (err) {
      return err as Error;
    }
  };

  // Half the clients end with a create under way at SIGTERM (its body still arriving), then send
  // nothing more: their connections, busy at SIGTERM and idle after, kept the old server up. The
  // other half go on until the server is gone (what they get is not asserted, beyond any 503).
  let finishing = false;
  let openGate = (): void => undefined;
  const gateOpen = new Promise<void>((resolve) => { openGate = resolve; });
  const sending: Array<Promise<void>> = [];
  const stopper = async (worker: number): Promise<Answer | Error> => {
    let i = 0;
    while (!finishing) await create(worker * 100_000 + i++);
    let started = (): void => undefined;
    sending.push(new Promise<void>((resolve) => { started = resolve; }));
    return create(worker * 100_000 + i, { sending: started, open: gateOpen });
  };
  const persister = async (worker: number): Promise<void> => {
    for (let i = 0; ; i++) if ((await create(worker * 100_000 + i)) instanceof Error) return;
  };
  const stoppers = [0, 1, 2, 3, 4, 5, 6, 7].map(stopper);
  const persisters = [8, 9, 10, 11, 12, 13, 14, 15].map(persister);
  while (acknowledged.length < 300) await new Promise((resolve) => setTimeout(resolve, 20));
  finishing = true;
  while (sending.length < stoppers.length) await new Promise((resolve) => setTimeout(resolve, 5));
  await Promise.all(sending);

  // A request half sent at SIGTERM arrives whole while the server closes: it is refused.
  const late = await rawConnection(server.url);
  late.socket.write(`GET /fhir/metadata HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 100));

  const stoppedAt = Date.now();
  server.process.kill('SIGTERM');
  setTimeout(() => {
    late.socket.write('Accept: application/fhir+json\r\nOrigin: https://app.example\r\n\r\n');
    openGate();
  }, 200);

  const code = await exitWithin(server, EXIT_BOUND_MS);
  const took = Date.now() - stoppedAt;
  t.equal(code, 0, `the server exited cleanly, ${took} ms after SIGTERM (bound ${EXIT_BOUND_MS} ms; it took about 70 s)`);
  const underWay = await Promise.all(stoppers);
  await Promise.all(persisters);
  t.same(underWay.map((a) => (a instanceof Error ? a.message : a.status)), underWay.map(() => 201), 'every create under way at SIGTERM was completed');
  t.same(underWay.map((a) => (a instanceof Error ? undefined : a.headers.connection)), underWay.map(() => 'close'), 'and its answer said Connection: close');

  const lateAnswer = parseRaw(await late.received);
  t.equal(lateAnswer.status, 503, 'a request arriving while the server closes is a 503');
  t.same(checkRefusal(lateAnswer), [], 'an OperationOutcome (transient, FHIR_ERR_HTTP_SHUTTING_DOWN) with Retry-After and Connection: close');
  t.equal(lateAnswer.headers['access-control-allow-origin'], '*', 'with CORS headers, so that a browser app can read the refusal and retry');
  t.same(refusals, [], `every 503 under load (${refused}) is that OperationOutcome`);
  t.notMatch(server.output(), /unhandled error|did not close cleanly/, 'nothing failed while closing');
  await t.rejects(stat(path.join(dataDir, 'LOCK')), { code: 'ENOENT' }, 'the store was closed: LOCK released');

  // Same port: the token's audience stays the same.
  const again = await startChildServer({ ...env, PORT: new URL(server.url).port });
  t.teardown(() => stopChildServer(again));
  t.notMatch(again.output(), /stale lock/, 'the restart found no stale LOCK');
  let missing = 0;
  for (const { id, marker } of acknowledged) {
    const res = await request(`${again.fhirBase}/Observation/${id}`, { headers: { authorization: bearer } });
    const body = (await res.body.json()) as { valueInteger?: number };
    if (res.statusCode !== 200 || body.valueInteger !== marker) missing++;
  }
  t.equal(missing, 0, `every acknowledged create (${acknowledged.length}) is readable after the restart`);
});

t.test('a request that never finishes arriving does not hold the stop: its connection is cut after the grace period (SHUTDOWN_GRACE_SECONDS)', async (t) => {
  const { server, bearer, dataDir } = await startServer(t, undefined, undefined, { SHUTDOWN_GRACE_SECONDS: '1' });
  const stalled = await rawConnection(server.url);
  // Headers and a tenth of the body, then nothing: the request is under way, waiting for its body.
  stalled.socket.write(`POST /fhir/Observation HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nAuthorization: ${bearer}\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{"resourceType":`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const stoppedAt = Date.now();
  server.process.kill('SIGTERM');
  const code = await exitWithin(server, EXIT_BOUND_MS);
  t.equal(code, 0, `the server exited cleanly, ${Date.now() - stoppedAt} ms after SIGTERM (bound ${EXIT_BOUND_MS} ms)`);
  await stalled.received;
  t.ok(stalled.socket.destroyed, 'the stalled connection was closed');
  t.match(server.output(), /"graceMs":1000\b.*connections still open at the end of the grace period/, 'the cut is logged, after the grace SHUTDOWN_GRACE_SECONDS set');
  await t.rejects(stat(path.join(dataDir, 'LOCK')), { code: 'ENOENT' }, 'the store was closed: LOCK released');
});

import t from 'tap';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { bearer, createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';

/** A server whose pino logs (JSON lines) are collected in `lines`. */
async function loggedServer(t: Tap, level: string) {
  const dataDir = await tempDir(t, 'carnet-log-');
  const client = await createTestClient({ scope: 'system/*.cruds' });
  const config = loadConfig({}, { dataDir, clientsFile: await writeClientsFile(dataDir, [client]), publicUrl: 'http://carnet.test' });
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const app = await buildServer({ config, logger: { level, stream } });
  t.teardown(() => app.close());
  await app.ready();
  return { app, lines, auth: await bearer(app, client, 'system/*.cruds') };
}
type Tap = { teardown: (fn: () => unknown) => void };

t.test('at info level each request logs its start and end under its request id', async (t) => {
  const { app, lines, auth } = await loggedServer(t, 'info');
  lines.length = 0;
  const res = await app.inject({ url: '/fhir/Patient/nobody', headers: { authorization: auth, 'x-request-id': 'trace-42' } });
  t.equal(res.statusCode, 404);
  t.equal(res.headers['x-request-id'], 'trace-42', 'the caller\'s request id is echoed');
  const mine = lines.filter((l) => l.reqId === 'trace-42');
  t.ok(mine.some((l) => l.msg === 'incoming request'), 'incoming request logged');
  t.ok(mine.some((l) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode === 404), 'completion logged with its status');
  t.ok(mine.some((l) => l.msg !== 'incoming request' && l.msg !== 'request completed' && l.level === 30), 'the handled error is logged with the request id');
});

t.test('at warn level a request that goes well writes nothing; ids are generated when not given', async (t) => {
  const { app, lines, auth } = await loggedServer(t, 'warn');
  lines.length = 0;
  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ url: '/fhir/Patient?_count=1', headers: { authorization: auth } });
    t.equal(res.statusCode, 200);
    ids.add(String(res.headers['x-request-id']));
  }
  t.equal(ids.size, 5, 'every request gets its own id');
  for (const id of ids) t.match(id, /^[\w\-.]{1,64}$/);
  t.same(lines, [], 'no log line');
  const bad = await app.inject({ url: '/fhir/Patient/nobody', headers: { authorization: auth, 'x-request-id': 'bad id with spaces' } });
  t.not(bad.headers['x-request-id'], 'bad id with spaces', 'an id that is not a plain token is replaced');
});

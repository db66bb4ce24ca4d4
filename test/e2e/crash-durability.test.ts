import t from 'tap';
import { request } from 'undici';
import { createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';
import { childServerToken, runChildServerExpectingFailure, startChildServer, stopChildServer } from '../helpers/child-server.js';

t.test('an acknowledged create survives kill -9; nothing half-written appears', async (t) => {
  const dataDir = await tempDir(t, 'carnet-crash-');
  const client = await createTestClient();
  const clientsFile = await writeClientsFile(dataDir, [client]);
  const env = { DATA_DIR: dataDir, CLIENTS_FILE: clientsFile, LOG_LEVEL: 'info' };
  // Same port across the restart, so the token audience stays the same.
  const first = await startChildServer({ ...env, LOG_LEVEL: 'info' });
  const port = new URL(first.url).port;
  t.teardown(() => stopChildServer(first, 'SIGKILL'));
  const bearer = `Bearer ${await childServerToken(first, client)}`;

  const acknowledged: Array<{ id: string; marker: number }> = [];
  let killed = false;
  const burst = async (worker: number): Promise<void> => {
    for (let i = 0; !killed; i++) {
      const marker = worker * 100_000 + i;
      try {
        const res = await request(`${first.fhirBase}/Observation`, {
          method: 'POST',
          headers: { authorization: bearer, 'content-type': 'application/fhir+json' },
          body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: `burst ${marker}` }, valueInteger: marker }),
        });
        const body = await res.body.text();
        if (res.statusCode === 201) acknowledged.push({ id: (JSON.parse(body) as { id: string }).id, marker });
      } catch {
        return; // the server died mid-request: this create was never acknowledged
      }
      if (acknowledged.length >= 150 && !killed) {
        killed = true;
        first.process.kill('SIGKILL');
      }
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(burst));
  await first.exited;
  t.ok(acknowledged.length >= 150, `${acknowledged.length} creates acknowledged before the kill`);

  const second = await startChildServer({ ...env, PORT: port });
  t.teardown(() => stopChildServer(second));
  const bearer2 = `Bearer ${await childServerToken(second, client)}`;
  let missing = 0;
  for (const { id, marker } of acknowledged) {
    const res = await request(`${second.fhirBase}/Observation/${id}`, { headers: { authorization: bearer2 } });
    const body = (await res.body.json()) as { valueInteger?: number };
    if (res.statusCode !== 200 || body.valueInteger !== marker) missing++;
  }
  t.equal(missing, 0, 'every acknowledged create is readable after the restart');

  // Whatever else was stored (created but not yet acknowledged) is whole.
  const history = await request(`${second.fhirBase}/Observation/_history?_count=1000`, { headers: { authorization: bearer2 } });
  const bundle = (await history.body.json()) as { entry?: Array<{ resource?: { valueInteger?: number; code?: { text?: string } } }> };
  const broken = (bundle.entry ?? []).filter((e) => !e.resource || typeof e.resource.valueInteger !== 'number' || e.resource.code?.text !== `burst ${e.resource.valueInteger}`);
  t.equal(broken.length, 0, 'no half-written resource');
  t.ok((bundle.entry ?? []).length >= acknowledged.length);
});

t.test('a second process refuses the same DATA_DIR with a clear message', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  const running = await startChildServer({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
  t.teardown(() => stopChildServer(running));
  const refused = await runChildServerExpectingFailure({ DATA_DIR: dataDir });
  t.equal(refused.code, 1);
  t.match(refused.output, /in use/i);
  t.match(refused.output, new RegExp(String(running.process.pid)));
});

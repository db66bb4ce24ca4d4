import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import * as errors from '../../src/errors.js';
import { tempDir } from '../helpers/tokens.js';
import { BUNDLED_MAIN, freePort, startChildServer, stopChildServer } from '../helpers/child-server.js';
import { waitFor } from '../helpers/wait-for.js';
import { repoRoot as root } from '../helpers/repo.js';


/** The newest modification time of a file under `dir`. */
function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

t.test('the bundled server that npm start runs answers the README first request, validates, searches and keeps its data', async (t) => {
  t.ok(existsSync(BUNDLED_MAIN), `${path.relative(root, BUNDLED_MAIN)} exists (run \`npm run build\`)`);
  t.ok(statSync(BUNDLED_MAIN).mtimeMs >= newestIn(path.join(root, 'src')), 'the bundle is newer than the sources (run `npm run build`; `npm test` does)');
  // An error's `name` is its class's (new.target.name): esbuild renames a class when another bundled one has its name.
  const bundled = readdirSync(path.dirname(BUNDLED_MAIN)).filter((f) => f.endsWith('.js')).map((f) => readFileSync(path.join(path.dirname(BUNDLED_MAIN), f), 'utf8')).join('\n');
  const errorsModule = /\/\/ dist\/src\/errors\.js\n([\s\S]*?)\n\/\/ /.exec(bundled)?.[1] ?? '';
  const bundledClasses = [...errorsModule.matchAll(/var (\w+) = class extends/g)].map((m) => m[1]);
  const errorClasses = Object.entries(errors).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error).map(([name]) => name);
  t.ok(bundledClasses.includes('FhirError') && bundledClasses.includes('ValidationError'), 'src/errors.js is found in the bundle');
  t.same(bundledClasses.filter((name) => !errorClasses.includes(name)), [], 'every error class in the bundle has its own name');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
  t.match(pkg.scripts.start, /node dist\/src\/bundle\/main\.js$/, 'npm start runs this bundle');

  const dataDir = await tempDir(t, 'carnet-bundle-');
  const port = String(await freePort());
  // One write worker whatever the machine, and writes only once it is ready, so they go through its bundled entry.
  const env = { DATA_DIR: dataDir, PORT: port, WRITE_WORKERS: '1' };
  let server = await startChildServer(env, { bundled: true });
  t.teardown(() => stopChildServer(server));
  await waitFor(() => (server.output().includes('write worker ready') ? true : undefined), 30_000);

  const metadata = await request(`${server.fhirBase}/metadata`);
  t.equal(metadata.statusCode, 200);
  const capability = (await metadata.body.json()) as { software: { version: string }; rest: Array<{ resource: Array<{ type: string; searchParam?: Array<{ name: string }> }> }> };
  t.equal(capability.software.version, pkg.version, 'the version is read from package.json');
  const documentReference = capability.rest[0].resource.find((r) => r.type === 'DocumentReference');
  t.ok(documentReference?.searchParam?.some((p) => p.name === 'creation'), 'the space\'s own search parameters (fhir-profiles/) are listed');

  const { stdout } = await promisify(execFile)(process.execPath, [path.join(root, 'dist', 'scripts', 'token.js'), '--scope', 'system/*.cruds'], {
    cwd: root, env: { ...process.env, ...env },
  });
  const headers = { authorization: `Bearer ${stdout.trim()}`, 'content-type': 'application/fhir+json' };

  const created = await request(`${server.fhirBase}/Observation`, {
    method: 'POST', headers,
    body: JSON.stringify({
      resourceType: 'Observation', status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/bundle-test' }, effectiveDateTime: '2026-11-24T08:00:00Z',
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    }),
  });
  t.equal(created.statusCode, 201, 'a valid Observation is created');
  const id = ((await created.body.json()) as { id: string }).id;

  const invalid = await request(`${server.fhirBase}/Observation`, {
    method: 'POST', headers,
    body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, valueQuantity: { value: 'fast' } }),
  });
  t.equal(invalid.statusCode, 400, 'a structurally invalid Observation is refused');
  const outcome = (await invalid.body.json()) as { resourceType: string; issue: Array<{ expression?: string[] }> };
  t.equal(outcome.resourceType, 'OperationOutcome');
  t.ok(outcome.issue.some((i) => i.expression?.includes('Observation.valueQuantity.value')), 'the issue names the bad element');

  const search = await request(`${server.fhirBase}/Observation?subject=Patient/bundle-test&code=http://loinc.org|8867-4`, { headers });
  t.equal(search.statusCode, 200);
  const found = (await search.body.json()) as { total?: number; entry?: Array<{ resource: { id: string } }> };
  t.same(found.entry?.map((e) => e.resource.id), [id], 'the search finds the Observation');

  // Strict handling: a parameter the server did not know would be a 400, not ignored.
  const byCreation = await request(`${server.fhirBase}/DocumentReference?creation=ge2020-01-01`, { headers: { ...headers, prefer: 'handling=strict' } });
  t.equal(byCreation.statusCode, 200, 'a search on a parameter from fhir-profiles/ works (found from the bundle\'s location)');
  await byCreation.body.dump();

  // Nothing went wrong inside: no failed worker analysis, no error logged.
  const problems = server.output().split('\n').filter((line) => /"level":(50|60)|analysis failed/.test(line));
  t.same(problems, [], 'nothing logged at error level and no write fell back from the worker');

  await stopChildServer(server, 'SIGKILL');
  server = await startChildServer(env, { bundled: true });
  const read = await request(`${server.fhirBase}/Observation/${id}`, { headers });
  t.equal(read.statusCode, 200, 'after a kill and a restart, the Observation reads back');
  t.equal(((await read.body.json()) as { id: string }).id, id);
});

import type { Resource } from '@medplum/fhirtypes';
import t from 'tap';
import { ValidationError } from '../../src/errors.js';
import { createValidator } from '../../src/fhir/validation/validate.js';
import { analyseVersion } from '../../src/store/version-analysis.js';
import type { AnalysisMode, VersionAnalysis } from '../../src/store/version-analysis.js';
import { WriteWorkers } from '../../src/store/write-workers/write-workers.js';
import { heartRate } from '../fixtures/heart-rate.js';

const SD = 'https://carnet.dev/fhir/StructureDefinition/';
const FHIR_BASE = 'http://carnet.test/fhir';
const document = { resourceType: 'DocumentReference', id: 'd1', status: 'current', subject: { reference: 'Patient/p1' }, content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b1' } }] };

/** What the main thread would answer alone: the analysis, or the error it throws. */
function inProcess(requiredProfiles: Record<string, string[]>) {
  const validator = createValidator({ requiredProfiles });
  return (json: string, mode: AnalysisMode): VersionAnalysis => analyseVersion(JSON.parse(json) as Resource, mode, (r, m) => validator.assertValid(r, { mode: m }), FHIR_BASE);
}

function outcome(run: () => VersionAnalysis): { ok?: VersionAnalysis; error?: { name: string; status?: number; issues?: unknown } } {
  try {
    return { ok: run() };
  } catch (err) {
    return { error: { name: (err as Error).name, status: (err as ValidationError).statusCode, issues: (err as ValidationError).issues } };
  }
}

/**
 * A worker's answer, compared with the in-process one without the index text
 * it adds for the journal; that text must say exactly what the objects say.
 */
async function settled(promise: Promise<VersionAnalysis>): Promise<ReturnType<typeof outcome>> {
  try {
    const { indexJson, ...analysis } = await promise;
    if (indexJson === undefined) return { error: { name: 'no index text from the worker' } };
    if (JSON.parse(`{${indexJson}}`) && indexJson !== JSON.stringify({ idx: analysis.idx, srt: analysis.srt, comp: analysis.comp }).slice(1, -1)) {
      return { error: { name: 'the index text differs from the index' } };
    }
    return { ok: analysis };
  } catch (err) {
    return { error: { name: (err as Error).name, status: (err as ValidationError).statusCode, issues: (err as ValidationError).issues } };
  }
}

function startWorkers(t: { teardown: (fn: () => unknown) => void }, requiredProfiles: Record<string, string[]> = {}) {
  const logged: string[] = [];
  const workers = new WriteWorkers({
    size: 1, requiredProfiles, fhirBase: FHIR_BASE, analyseHere: inProcess(requiredProfiles),
    log: { info: () => undefined, warn: (_o, msg) => logged.push(msg), error: (_o, msg) => logged.push(msg) },
  });
  t.teardown(() => workers.close());
  return { workers, logged };
}

const samples: Array<[string, unknown, AnalysisMode]> = [
  ['a valid vital sign', { ...heartRate, id: 'o1', meta: { versionId: '1', lastUpdated: '2026-11-23T10:00:00.000Z' } }, 'create'],
  ['a valid Patient', { resourceType: 'Patient', id: 'p1', name: [{ family: 'Martin', given: ['Léa'] }], birthDate: '1980-02-29' }, 'update'],
  ['a document', document, 'create'],
  ['a rule broken (422)', { ...heartRate, id: 'o2', status: undefined }, 'create'],
  ['a malformed element (400)', { ...heartRate, id: 'o3', valueQuantity: { value: 'seventy-two' } }, 'create'],
  ['an unknown element', { ...heartRate, id: 'o4', colour: 'blue' }, 'create'],
  ['a warning (unknown profile)', { ...heartRate, id: 'o5', meta: { profile: ['https://example.org/StructureDefinition/none'] } }, 'create'],
  ['an absolute reference to this server', { ...heartRate, id: 'o6', subject: { reference: `${FHIR_BASE}/Patient/p2` } }, 'create'],
];

t.test('a worker gives the answer the main thread would give: analysis, warnings, or the same ValidationError', async (t) => {
  const { workers } = startWorkers(t);
  t.equal(workers.analyse('{}', 'create'), undefined, 'not ready yet: the caller analyses in process');
  await workers.ready();
  t.equal(workers.readyCount, 1);
  const here = inProcess({});
  // All posted in one turn of the event loop: they travel as one batch.
  const answers = await Promise.all(samples.map(([, resource, mode]) => settled(workers.analyse(JSON.stringify(resource), mode)!)));
  samples.forEach(([name, resource, mode], i) => {
    const expected = outcome(() => here(JSON.stringify(resource), mode));
    t.same(answers[i], expected, name);
  });
  t.ok(answers[0]!.ok!.idx.code, 'the index comes back whole');
  t.same(answers[0]!.ok!.comp, ['Patient/p1']);
  t.equal(answers[3]!.error?.status, 422);
  t.equal(answers[4]!.error?.status, 400);
  t.match(answers[6]!.ok!.warnings, [{ severity: 'warning', code: 'not-supported' }]);
  t.same(answers[7]!.ok!.comp, ['Patient/p2'], 'the FHIR base reaches the worker: an absolute reference to this server is a local one');
});

t.test('jobs that arrive while a batch is with the worker are answered too, each with its own answer', async (t) => {
  const { workers, logged } = startWorkers(t);
  await workers.ready();
  const here = inProcess({});
  const first = samples.map(([, resource, mode]) => settled(workers.analyse(JSON.stringify(resource), mode)!));
  // A later turn of the event loop: the first batch is in flight, these wait for its answer.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const later = [...samples].reverse().map(([, resource, mode]) => settled(workers.analyse(JSON.stringify(resource), mode)!));
  const answers = await Promise.all([...first, ...later]);
  [...samples, ...[...samples].reverse()].forEach(([name, resource, mode], i) => {
    t.same(answers[i], outcome(() => here(JSON.stringify(resource), mode)), name);
  });
  t.same(logged, [], 'no job fell back to the main thread');
});

t.test('the errors a worker sends back are ValidationErrors, as thrown in process', async (t) => {
  const { workers } = startWorkers(t);
  await workers.ready();
  const err = await workers.analyse(JSON.stringify({ ...heartRate, status: 'unheard-of' }), 'create')!.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof ValidationError, 'a ValidationError, so the error handler answers with its OperationOutcome');
});

t.test('the required profiles of the configuration apply in the worker', async (t) => {
  const required = { DocumentReference: [`${SD}carnet-document`] };
  const { workers } = startWorkers(t, required);
  await workers.ready();
  const withProfile = await settled(workers.analyse(JSON.stringify(document), 'create')!);
  t.same(withProfile, outcome(() => inProcess(required)(JSON.stringify(document), 'create')));
  t.equal(withProfile.error?.status, 422, 'the plain document misses what carnet-document requires');
  const { workers: plain } = startWorkers(t);
  await plain.ready();
  t.ok((await settled(plain.analyse(JSON.stringify(document), 'create')!)).ok, 'and is valid without the requirement');
});

t.test('a job the worker fails on is analysed in the main thread, with the same outcome', async (t) => {
  const { workers, logged } = startWorkers(t);
  await workers.ready();
  // Text that is not JSON cannot come from the repository; here it makes the worker fail outside validation.
  const failed = await workers.analyse('{not json', 'create')!.then(() => undefined, (e: unknown) => e);
  t.ok(failed instanceof SyntaxError, 'the main thread met the same failure and reported it');
  t.match(logged, ['write worker: analysis failed, done in the main thread']);
});

t.test('a worker that dies: its pending jobs are answered in the main thread and another worker starts', async (t) => {
  const { workers, logged } = startWorkers(t);
  await workers.ready();
  const slots = (workers as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots;
  const jobs = Array.from({ length: 20 }, (_, i) => workers.analyse(JSON.stringify({ ...heartRate, id: `o${i}` }), 'create')!);
  await slots[0]!.worker.terminate();
  const answers = await Promise.all(jobs);
  t.equal(answers.length, 20);
  for (const a of answers) t.same(a.comp, ['Patient/p1']);
  t.match(logged, ['write worker: stopped, starting another']);
  // A worker starting under tsx on a loaded 2-core machine took over 5 s once: the bound is only there to end a failing run.
  for (let i = 0; i < 2400 && workers.readyCount === 0; i++) await new Promise((r) => setTimeout(r, 25));
  t.equal(workers.readyCount, 1, 'a new worker took its place');
  t.ok((await workers.analyse(JSON.stringify(heartRate), 'create')!).idx.code);
});

t.test('closed: no job is lost, none is sent', async (t) => {
  const { workers } = startWorkers(t);
  await workers.ready();
  const pending = workers.analyse(JSON.stringify(heartRate), 'create')!;
  await workers.close();
  t.ok((await pending).idx.code, 'a job pending at close was answered');
  t.equal(workers.analyse(JSON.stringify(heartRate), 'create'), undefined, 'after close, jobs stay in the caller');
});

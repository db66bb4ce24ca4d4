import t from 'tap';
import type { Test } from 'tap';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { processBundle, type BundleContext } from '../../src/store/bundle-processor.js';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { Repository, type SearchRestriction } from '../../src/store/repository.js';
import { tempDir } from '../helpers/tokens.js';

const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const quiet = { warn: () => undefined, info: () => undefined };

async function openRepository(t: Test): Promise<Repository> {
  const engine = createEmbeddedEngine({ dataDir: await tempDir(t, 'carnet-condref-'), log: quiet });
  await engine.open();
  t.teardown(() => engine.close());
  return new Repository({ engine, validate: () => [], search: { defaultCount: 20, maxCount: 100 } });
}

/**
 * A context allowing everything; `beforeSearch(n)` runs before the transaction's n-th search
 * (each search asks for the restriction once): the place where another request's write lands.
 */
function contextWith(beforeSearch: (n: number) => Promise<void>): BundleContext {
  let searches = 0;
  const everything: SearchRestriction = () => ({});
  return {
    fhirBase: 'http://carnet.test/fhir', maxEntries: 100, binaryMaxBytes: 1024,
    authorize: async () => undefined, writeCheck: () => async () => undefined,
    read: async () => ({ response: { status: '200' } }),
    restriction: async () => {
      await beforeSearch(++searches);
      return everything;
    },
  };
}

const transaction = (value: string): Bundle => ({
  resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|${value}` }, resource: { resourceType: 'Patient', identifier: [{ system: INS, value }] } },
    { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: `Patient?identifier=${INS}|${value}` } } as Observation },
  ],
});

const stored = async (repository: Repository, type: string, query: Array<[string, string]> = []) =>
  (await repository.search(repository.parseSearch([type], query, true))).matches;

t.test('a conditional reference names the resource its transaction creates under the same condition', async (t) => {
  const repository = await openRepository(t);
  const answer = await processBundle(repository, transaction('1'), contextWith(async () => undefined));
  const patientId = answer.entry![0]!.response!.location!.split('/')[1];
  const [observation] = await stored(repository, 'Observation');
  t.equal((JSON.parse(observation!.json) as Observation).subject?.reference, `Patient/${patientId}`);
});

// Plain creates do not queue with the conditional interactions: one landing between the
// entry's If-None-Exist search and the reference's search gives the reference two candidates,
// the Patient the transaction creates and the one just stored. Naming either would hide the
// duplicate; the transaction is refused (412, as any ambiguous conditional reference), writes
// nothing, and sent again it matches the stored Patient.
t.test('a stored match that is not the entry\'s resource makes the reference ambiguous', async (t) => {
  const repository = await openRepository(t);
  const concurrent = { resourceType: 'Patient' as const, identifier: [{ system: INS, value: '2' }], name: [{ family: 'Concurrent' }] };
  let otherId = '';
  const context = contextWith(async (n) => {
    if (n === 2) otherId = (await repository.create(concurrent)).record.id;
  });
  const err = await processBundle(repository, transaction('2'), context).then(() => undefined, (e: unknown) => e);
  t.match(err, { statusCode: 412, code: 'FHIR_ERR_BUNDLE_CONDITIONAL_REFERENCE', issues: [{ expression: ['Bundle.entry[1]'], diagnostics: /matched 2 resources/ }] });
  t.same((await stored(repository, 'Patient')).map((r) => r.id), [otherId], 'only the concurrent Patient is stored');
  t.same(await stored(repository, 'Observation'), [], 'no Observation');

  const again = await processBundle(repository, transaction('2'), contextWith(async () => undefined));
  t.same(again.entry!.map((e) => e.response?.status), ['200 OK', '201 Created']);
  t.equal(again.entry![0]!.response!.location, `Patient/${otherId}/_history/1`);
});

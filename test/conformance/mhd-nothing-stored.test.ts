import t from 'tap';
import type { Test } from 'tap';
import { runConformance } from '../../conformance/runner/run-suites.js';
import type { Suite } from '../../conformance/runner/suite.js';
import type { CheckResult, RunResult } from '../../conformance/runner/types.js';
import { selectSuites } from '../../conformance/suites/index.js';
import { startFakeMhd } from './fake-mhd.js';

/**
 * "A refused ITI-65 submission leaves nothing": an empty search proves it only if the
 * same search finds a document known to be stored, and only what matches is counted.
 */

const ID = 'mhd.iti65.rejects-no-submission-set';

function only(): Suite[] {
  return selectSuites(['mhd']).map((s) => ({ ...s, checks: s.checks.filter((c) => c.id === ID) }));
}

async function judged(t: Test, identifierSearch: 'honest' | 'ignores-master' | 'ignores-filter'): Promise<CheckResult | undefined> {
  const server = await startFakeMhd(t, { identifierSearch });
  const run: RunResult = await runConformance({ base: server.base, suites: only(), auth: { kind: 'static', token: 't' } });
  return run.suites[0]?.checks[0];
}

t.test('an identifier search that ignores masterIdentifier cannot show that nothing is stored: the check fails saying so', async (t) => {
  const r = await judged(t, 'ignores-master');
  t.equal(r?.outcome, 'failed');
  t.match(r?.message, /^cannot tell whether the refused submission left anything: DocumentReference\?identifier=urn:ietf:rfc:3986\|urn:oid:[\d.]+ does not find DocumentReference\/documentreference\d+, stored with that masterIdentifier by the accepted submission \(mhd.iti65.accepted\)/);
});

t.test('an honest server passes, and one returning every document is judged by the kit\'s matcher', async (t) => {
  t.equal((await judged(t, 'honest'))?.outcome, 'passed');
  const unfiltered = await judged(t, 'ignores-filter');
  t.equal(unfiltered?.outcome, 'passed', `the accepted document does not carry the refused unique id, so it is not counted: ${unfiltered?.message ?? ''}`);
});

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { lineProgress } from '../../conformance/cli/progress.js';
import { formatSummary } from '../../conformance/cli/summary-table.js';
import { toHtml } from '../../conformance/reports/html.js';
import { toJUnitXml } from '../../conformance/reports/junit.js';
import { shouldFail } from '../../conformance/reports/tally.js';
import { toTestReport } from '../../conformance/reports/test-report.js';
import { writeReports } from '../../conformance/reports/write-reports.js';
import { sampleRun } from './sample-run.js';
import { sink } from './text-sink.js';

t.test('JUnit XML counts each outcome and escapes what the server sent', async (t) => {
  const xml = toJUnitXml(sampleRun());
  t.match(xml, /<testsuites name="carnet-conformance" tests="5" failures="2" errors="0" skipped="2"/);
  t.match(xml, /<testsuite name="rest" tests="4" failures="2" errors="0" skipped="1"/);
  t.match(xml, /<testcase classname="rest.http-read" name="rest.read.current: read works" time="0.005"\/>/);
  t.match(xml, /<skipped message="not checked by this version of the kit"\/>/);
  t.match(xml, /<failure message="read of an unknown Patient: expected HTTP 404, got 200 &amp; &quot;&lt;script&gt;/);
  t.match(xml, /type="warning"/);
  t.notMatch(xml, /<script>/, 'no raw markup from the server');
  t.match(xml, /&gt; GET http:\/\/server.test\/fhir\/Patient\/nope\n&lt; 200/, 'the failure names the request and the status received');
});

t.test('a TestReport per suite maps outcomes to assert results', async (t) => {
  const run = sampleRun();
  const rest = toTestReport(run, run.suites[0]!);
  t.equal(rest.resourceType, 'TestReport');
  t.equal(rest.status, 'completed');
  t.equal(rest.result, 'fail');
  t.equal(rest.score, 33.33, 'passed over judged checks, in percent');
  t.same(rest.test?.map((x) => x.action?.[0]?.assert?.result), ['pass', 'fail', 'skip', 'warning'], 'a failed SHOULD check is a warning');
  t.equal(rest.test?.[1]?.action?.[0]?.assert?.detail, 'https://hl7.org/fhir/R4/http.html#read');
  t.match(rest.participant, [{ type: 'test-engine' }, { type: 'server', uri: 'http://server.test/fhir' }]);
  const space = toTestReport(run, run.suites[1]!);
  t.equal(space.result, 'pending', 'a suite where everything was skipped neither passes nor fails');
  t.equal(space.score, undefined);
});

t.test('a TestReport whose only failures are warnings passes, unless --fail-on counts warnings', async (t) => {
  const run = sampleRun();
  run.suites[0]!.checks[1]!.outcome = 'passed'; // only the warning-level check still fails
  const rest = toTestReport(run, run.suites[0]!);
  t.equal(rest.result, 'pass', 'same verdict as the exit code under --fail-on error');
  t.same(rest.test?.map((x) => x.action?.[0]?.assert?.result), ['pass', 'pass', 'skip', 'warning']);
  t.equal(rest.score, 66.67, 'a warning is judged and not passed: 2 of 3');
  const strict = toTestReport(run, run.suites[0]!, ['error', 'warning']);
  t.equal(strict.result, 'fail', 'same verdict as the exit code under --fail-on error,warning');
  t.same(strict.test?.map((x) => x.action?.[0]?.assert?.result), ['pass', 'pass', 'skip', 'fail']);
  t.equal(strict.score, 66.67);

  const dir = await mkdtemp(join(tmpdir(), 'carnet-reports-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeReports(run, join(dir, 'default'));
  t.equal(JSON.parse(await readFile(join(dir, 'default', 'TestReport-rest.json'), 'utf8')).result, 'pass');
  await writeReports(run, join(dir, 'strict'), { failOn: ['error', 'warning'] });
  t.equal(JSON.parse(await readFile(join(dir, 'strict', 'TestReport-rest.json'), 'utf8')).result, 'fail');
});

t.test('the HTML page is self-contained and shows evidence for failures only', async (t) => {
  const html = toHtml(sampleRun());
  t.notMatch(html, /<script>alert/, 'server text is escaped');
  t.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.match(html, /request sent<\/h4><pre>GET http:\/\/server.test\/fhir\/Patient\/nope/);
  t.match(html, /response received<\/h4><pre>HTTP 200/);
  t.match(html, /&lt;b&gt;nope&lt;\/b&gt;/);
  t.match(html, /A GET for an unknown resource returns 404 Not Found\./, 'requirement text is quoted');
  t.match(html, /<a href="https:\/\/hl7.org\/fhir\/R4\/http.html#read">/);
  t.notMatch(html, /href="urn:/, 'non-http requirement ids are not links');
  t.notMatch(html, /<link |src="http/, 'no external assets');
  t.equal((html.match(/request sent/g) ?? []).length, 1, 'exchanges only for failed checks that have them');
});

t.test('summary table lists suites, requirements and failures', async (t) => {
  const text = formatSummary(sampleRun());
  t.match(text, /^suite\s+title\s+passed\s+failed\s+errored\s+skipped\s+total$/m);
  t.match(text, /^rest\s+RESTful API\s+1\s+2\s+0\s+1\s+4$/m);
  t.match(text, /^space\s+Health space rules\s+0\s+0\s+0\s+1\s+1$/m);
  t.match(text, /^total\s+1\s+2\s+0\s+2\s+5$/m);
  t.notMatch(text, /Errors/, 'no errors section when every check reached a verdict');
  t.match(text, /\[error\] rest.read.unknown: read of an unknown Patient/);
  t.match(text, /\[warning\] rest.prefer.minimal/);
});

t.test('--fail-on decides which failures fail the run', async (t) => {
  const run = sampleRun();
  t.equal(shouldFail(run, ['error']), true);
  t.equal(shouldFail(run, ['warning']), true);
  run.suites[0]!.checks[1]!.outcome = 'passed';
  t.equal(shouldFail(run, ['error']), false, 'only a warning failed');
  t.equal(shouldFail(run, ['error', 'warning']), true);
});

t.test('writeReports writes JUnit, HTML and one TestReport per suite', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'carnet-reports-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeReports(sampleRun(), join(dir, 'nested'));
  t.same((await readdir(join(dir, 'nested'))).sort(), ['TestReport-rest.json', 'TestReport-space.json', 'junit.xml', 'report.html']);
  const report = JSON.parse(await readFile(join(dir, 'nested', 'TestReport-rest.json'), 'utf8'));
  t.equal(report.resourceType, 'TestReport');
});

/** The sample run with one more check, which could not complete (the deadline passed). */
function runWithError(severity: 'error' | 'warning' = 'error') {
  const run = sampleRun();
  const failed = run.suites[0]!.checks[1]!;
  run.suites[0]!.checks.push({
    ...failed, id: 'rest.read.slow', title: 'slow read', outcome: 'errored', severity,
    message: 'GET http://server.test/fhir/Patient/slow could not complete: no complete answer within the 30 s deadline (--timeout)',
    exchanges: [{ request: { method: 'GET', url: 'http://server.test/fhir/Patient/slow', headers: {} }, error: 'no complete answer within the 30 s deadline (--timeout)' }],
  });
  return run;
}

t.test('a check that could not complete is an error, not a failure, in every report', async (t) => {
  const run = runWithError();
  const xml = toJUnitXml(run);
  t.match(xml, /<testsuites name="carnet-conformance" tests="6" failures="2" errors="1" skipped="2"/);
  t.match(xml, /<testsuite name="rest" tests="5" failures="2" errors="1" skipped="1"/);
  t.match(xml, /<testcase classname="rest.http-read" name="rest.read.slow: slow read" time="0.005">\n {6}<error message="GET http:\/\/server.test\/fhir\/Patient\/slow could not complete: no complete answer within the 30 s deadline \(--timeout\)" type="error">/);
  t.match(xml, /&gt; GET http:\/\/server.test\/fhir\/Patient\/slow\n&lt; no response: no complete answer within the 30 s deadline/, 'the error names the request left without an answer');
  t.equal((xml.match(/<failure /g) ?? []).length, 2, 'the two failures stay failures');

  const text = formatSummary(run);
  t.match(text, /^rest\s+RESTful API\s+1\s+2\s+1\s+1\s+5$/m);
  t.match(text, /^total\s+1\s+2\s+1\s+2\s+6$/m);
  t.match(text, /Errors \(checks that could not complete\):\n {2}\[error\] rest.read.slow: GET http:\/\/server.test\/fhir\/Patient\/slow could not complete/);
  t.notMatch(text.split('Errors')[0], /rest\.read\.slow/, 'not listed among the failures');

  const report = toTestReport(run, run.suites[0]!);
  t.same(report.test?.map((x) => x.action?.[0]?.assert?.result), ['pass', 'fail', 'skip', 'warning', 'error']);
  t.equal(report.result, 'fail');
  t.equal(report.score, 25, 'an error did not pass: 1 of the 4 checks that ran');

  const html = toHtml(run);
  t.match(html, /<strong class="errored">1 errored<\/strong> \(could not complete\)/);
  t.match(html, /<tr class="check" data-outcome="errored"><td><span class="badge errored">errored<\/span><\/td><td><code>rest.read.slow<\/code>/);
  t.match(html, /<input type="checkbox" id="show-errored" checked>/, 'errored checks can be filtered like the others');
  t.match(html, /no response: no complete answer within the 30 s deadline/, 'with what the kit got before it stopped');
});

t.test('an errored check fails the run (and its TestReport) for the --fail-on severities, like a failure', async (t) => {
  const run = runWithError('warning');
  run.suites[0]!.checks[1]!.outcome = 'passed';
  run.suites[0]!.checks[3]!.outcome = 'passed';
  t.equal(shouldFail(run, ['error']), false, 'a SHOULD check that errored does not fail a run under --fail-on error');
  t.equal(shouldFail(run, ['error', 'warning']), true);
  t.equal(toTestReport(run, run.suites[0]!).result, 'pass');
  t.equal(toTestReport(run, run.suites[0]!, ['error', 'warning']).result, 'fail');
  t.equal(toTestReport(run, run.suites[0]!).test?.[4]?.action?.[0]?.assert?.result, 'error', 'an error whatever the severity');
  t.equal(shouldFail(runWithError('error'), ['error']), true);
});

t.test('what a passed check did not verify is listed with it in every report', async (t) => {
  const run = sampleRun();
  const passed = run.suites[0]!.checks[0]!;
  passed.notChecked = ['that it becomes visible after one month: a run cannot wait a month', 'counts <of> & co'];
  const xml = toJUnitXml(run);
  t.match(xml, '<testcase classname="rest.http-read" name="rest.read.current: read works" time="0.005"><system-out>Not checked: that it becomes visible after one month: a run cannot wait a month\nNot checked: counts &lt;of&gt; &amp; co</system-out></testcase>');
  t.match(xml, /<testsuite name="rest" tests="4" failures="2" errors="0" skipped="1"/, 'still counted as a pass');

  const report = toTestReport(run, run.suites[0]!);
  t.equal(report.test?.[0]?.action?.[0]?.assert?.result, 'pass');
  t.match(report.test?.[0]?.description, /: A GET for an unknown resource returns 404 Not Found\. Not checked: that it becomes visible after one month: a run cannot wait a month Not checked: counts <of> & co$/);
  t.notMatch(report.test?.[1]?.description, /Not checked/, 'only on the check that said so');

  const html = toHtml(run);
  t.match(html, /<span class="badge passed">passed<\/span> <span class="partly">partly checked<\/span>/);
  t.match(html, /<div class="unchecked">not checked: that it becomes visible after one month: a run cannot wait a month<\/div>/);
  t.match(html, /not checked: counts &lt;of&gt; &amp; co/);

  const text = formatSummary(run);
  t.match(text, /\nNot checked \(parts of the requirements of passed checks\):\n {2}rest\.read\.current: that it becomes visible after one month: a run cannot wait a month\n {2}rest\.read\.current: counts <of> & co\n$/);
  t.notMatch(formatSummary(sampleRun()), /Not checked/, 'no such section when every pass verified its whole requirement');

  const progress = sink();
  const listener = lineProgress(progress);
  listener.start(1, { base: run.base, capabilityStatement: { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', date: '2025-01-01', fhirVersion: '4.0.1', format: ['json'] } });
  listener.checkDone(passed);
  t.match(progress.text, /\[1\/1\] PASS rest\.read\.current — not checked: that it becomes visible after one month: a run cannot wait a month; counts <of> & co\n$/);
});

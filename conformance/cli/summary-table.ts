import { tally, tallyByRequirement } from '../reports/tally.js';
import type { Tally } from '../reports/tally.js';
import type { RunResult } from '../runner/types.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * The end-of-run summary: per suite, then per requirement, then the failures
 * and errors in one line each, then what the passed checks did not verify.
 */
export function formatSummary(run: RunResult): string {
  const counts = (t: Tally): string[] => [String(t.passed), String(t.failed), String(t.errored), String(t.skipped), String(t.total)];
  const suiteRows = run.suites.map((s) => [s.id, s.title, ...counts(tally(s.checks))]);
  suiteRows.push(['total', '', ...counts(tally(run.suites.flatMap((s) => s.checks)))]);
  const reqRows = tallyByRequirement(run).map((r) => [r.suite, r.section, ...counts(r)]);
  const checks = run.suites.flatMap((s) => s.checks);
  const failures = checks.filter((c) => c.outcome === 'failed');
  const errors = checks.filter((c) => c.outcome === 'errored');
  const parts = [
    `carnet-conformance against ${run.base} (run ${run.runId})`,
    '',
    table(['suite', 'title', 'passed', 'failed', 'errored', 'skipped', 'total'], suiteRows),
    '',
    table(['suite', 'requirement', 'passed', 'failed', 'errored', 'skipped', 'total'], reqRows),
  ];
  if (failures.length) {
    parts.push('', 'Failures:');
    for (const f of failures) parts.push(`  [${f.severity}] ${f.id}: ${f.message ?? ''}`);
  }
  if (errors.length) {
    // Kept apart from failures: these checks reached no verdict on the server.
    parts.push('', 'Errors (checks that could not complete):');
    for (const e of errors) parts.push(`  [${e.severity}] ${e.id}: ${e.message ?? ''}`);
  }
  const partial = checks.filter((c) => c.outcome === 'passed' && c.notChecked?.length);
  if (partial.length) {
    // A pass says nothing about these parts of its requirement.
    parts.push('', 'Not checked (parts of the requirements of passed checks):');
    for (const c of partial) for (const n of c.notChecked!) parts.push(`  ${c.id}: ${n}`);
  }
  return `${parts.join('\n')}\n`;
}

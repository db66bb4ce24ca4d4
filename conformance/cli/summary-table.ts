import { tally, tallyByRequirement } from '../reports/tally.js';
import type { RunResult } from '../runner/types.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The end-of-run summary: per suite, then per requirement, then the failures in one line each. */
export function formatSummary(run: RunResult): string {
  const suiteRows = run.suites.map((s) => {
    const t = tally(s.checks);
    return [s.id, s.title, String(t.passed), String(t.failed), String(t.skipped), String(t.total)];
  });
  const all = tally(run.suites.flatMap((s) => s.checks));
  suiteRows.push(['total', '', String(all.passed), String(all.failed), String(all.skipped), String(all.total)]);
  const reqRows = tallyByRequirement(run).map((r) => [r.suite, r.section, String(r.passed), String(r.failed), String(r.skipped), String(r.total)]);
  const failures = run.suites.flatMap((s) => s.checks.filter((c) => c.outcome === 'failed'));
  const parts = [
    `carnet-conformance against ${run.base} (run ${run.runId})`,
    '',
    table(['suite', 'title', 'passed', 'failed', 'skipped', 'total'], suiteRows),
    '',
    table(['suite', 'requirement', 'passed', 'failed', 'skipped', 'total'], reqRows),
  ];
  if (failures.length) {
    parts.push('', 'Failures:');
    for (const f of failures) parts.push(`  [${f.severity}] ${f.id}: ${f.message ?? ''}`);
  }
  return `${parts.join('\n')}\n`;
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult, Severity } from '../runner/types.js';
import { toHtml } from './html.js';
import { toJUnitXml } from './junit.js';
import { DEFAULT_FAIL_ON } from './tally.js';
import { toTestReport } from './test-report.js';

export interface ReportOptions {
  /** The severities that fail the run (`--fail-on`); the TestReports' results follow them. Default: `error`. */
  failOn?: readonly Severity[];
}

/** Writes junit.xml, report.html and one TestReport-<suite>.json per suite; returns the paths written. */
export async function writeReports(run: RunResult, dir: string, options: ReportOptions = {}): Promise<string[]> {
  const failOn = options.failOn ?? DEFAULT_FAIL_ON;
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['junit.xml', toJUnitXml(run)],
    ['report.html', toHtml(run)],
    ...run.suites.map((s): [string, string] => [`TestReport-${s.id}.json`, `${JSON.stringify(toTestReport(run, s, failOn), null, 2)}\n`]),
  ];
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    await writeFile(path, content, 'utf8');
    written.push(path);
  }
  return written;
}

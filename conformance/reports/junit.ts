import type { CheckResult, RunResult } from '../runner/types.js';
import { tally } from './tally.js';

// XML 1.0 cannot carry most control characters at all, even escaped.
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

export function escapeXml(text: string): string {
  return text
    .replace(XML_INVALID, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function notCheckedText(c: CheckResult): string {
  return (c.notChecked ?? []).map((n) => `Not checked: ${n}`).join('\n');
}

function failureDetail(c: CheckResult): string {
  const lines = [`Requirement: ${c.requirement.section} (${c.requirement.url})`, c.requirement.text, ''];
  if (c.notChecked?.length) lines.push(notCheckedText(c), '');
  if (c.message) lines.push(c.message, '');
  for (const e of c.exchanges) {
    lines.push(`> ${e.request.method} ${e.request.url}`);
    lines.push(e.response ? `< ${e.response.status}` : `< no response: ${e.error ?? 'unknown'}`);
  }
  return lines.join('\n');
}

/** JUnit XML as CI systems read it: one testsuite per suite, one testcase per check (failures and errors counted apart). */
export function toJUnitXml(run: RunResult): string {
  const all = tally(run.suites.flatMap((s) => s.checks));
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="carnet-conformance" tests="${all.total}" failures="${all.failed}" errors="${all.errored}" skipped="${all.skipped}" time="${seconds(run.durationMs)}">`,
  );
  for (const suite of run.suites) {
    const t = tally(suite.checks);
    out.push(
      `  <testsuite name="${escapeXml(suite.id)}" tests="${t.total}" failures="${t.failed}" errors="${t.errored}" skipped="${t.skipped}" time="${seconds(suite.durationMs)}" timestamp="${escapeXml(suite.startedAt)}">`,
    );
    out.push(`    <properties><property name="base" value="${escapeXml(run.base)}"/><property name="runId" value="${escapeXml(run.runId)}"/></properties>`);
    for (const c of suite.checks) {
      const open = `    <testcase classname="${escapeXml(`${suite.id}.${c.requirement.id}`)}" name="${escapeXml(`${c.id}: ${c.title}`)}" time="${seconds(c.durationMs)}"`;
      // What a pass did not verify goes to the testcase's output, which CI systems show with it.
      if (c.outcome === 'passed' && c.notChecked?.length) out.push(`${open}><system-out>${escapeXml(notCheckedText(c))}</system-out></testcase>`);
      else if (c.outcome === 'passed') out.push(`${open}/>`);
      else if (c.outcome === 'skipped') out.push(`${open}><skipped message="${escapeXml(c.message ?? '')}"/></testcase>`);
      else {
        // JUnit's own distinction: <failure> a verdict against the server, <error> a check that could not complete.
        const element = c.outcome === 'errored' ? 'error' : 'failure';
        out.push(`${open}>`);
        out.push(`      <${element} message="${escapeXml(c.message ?? c.outcome)}" type="${c.severity}">${escapeXml(failureDetail(c))}</${element}>`);
        out.push('    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

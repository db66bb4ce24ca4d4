import type { CheckResult, Exchange, RunResult } from '../runner/types.js';
import { tally, tallyByRequirement } from './tally.js';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Only http(s) links are rendered as links; anything else stays text. */
function link(url: string, label: string): string {
  return /^https?:\/\//.test(url) ? `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>` : escapeHtml(label);
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
.passed{color:#116b2b}.failed{color:#b3261e;font-weight:600}.errored{color:#8a3ffc;font-weight:600}.skipped{color:#7a6a00}
.badge{display:inline-block;min-width:4.5em;text-align:center;border-radius:3px;padding:0 .3em;font-size:.85em}
.badge.passed{background:#e3f4e8}.badge.failed{background:#fbe4e2}.badge.errored{background:#eee5ff}.badge.skipped{background:#fbf3d0}
details{margin:.25rem 0 .75rem 1rem}pre{background:#f6f7f9;padding:.5rem;overflow:auto;max-height:24rem;white-space:pre-wrap;word-break:break-all}
.req{color:#555;font-size:.92em}.filters label{margin-right:1rem}
.unchecked{color:#7a6a00;font-size:.92em}.partly{font-size:.75em;color:#7a6a00;white-space:nowrap}
`;

const SCRIPT = `
document.querySelectorAll('.filters input').forEach(function(box){box.addEventListener('change',function(){
document.querySelectorAll('tr.check').forEach(function(row){var on=document.getElementById('show-'+row.dataset.outcome).checked;
row.style.display=on?'':'none';var next=row.nextElementSibling;if(next&&next.classList.contains('detail'))next.style.display=on?'':'none';});});});
`;

function exchangeHtml(e: Exchange, index: number): string {
  const req = e.request;
  const reqText = [`${req.method} ${req.url}`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`), '', req.body ?? ''].join('\n');
  const resText = e.response
    ? [`HTTP ${e.response.status}`, ...Object.entries(e.response.headers).map(([k, v]) => `${k}: ${v}`), '', e.response.body].join('\n')
    : `no response: ${e.error ?? 'unknown error'}`;
  return `<details><summary>exchange ${index + 1}: ${escapeHtml(req.method)} ${escapeHtml(req.url)} → ${e.response ? e.response.status : 'error'}</summary>
<h4>request sent</h4><pre>${escapeHtml(reqText)}</pre><h4>response received</h4><pre>${escapeHtml(resText)}</pre></details>`;
}

function checkRows(c: CheckResult): string {
  const req = c.requirement;
  const detail = [
    `<div class="req">${link(req.url, `${req.spec} — ${req.section}`)}: ${escapeHtml(req.text)}</div>`,
    c.message ? `<div class="${c.outcome}">${escapeHtml(c.message)}</div>` : '',
    ...c.notes.map((n) => `<div class="req">note: ${escapeHtml(n)}</div>`),
    ...(c.notChecked ?? []).map((n) => `<div class="unchecked">not checked: ${escapeHtml(n)}</div>`),
    // Evidence for what did not pass: a failure's exchanges, or what an errored check got before it stopped.
    c.outcome === 'failed' || c.outcome === 'errored' ? c.exchanges.map(exchangeHtml).join('\n') : '',
  ].join('\n');
  // A pass that leaves part of its requirement unverified says so next to its badge.
  const partly = c.outcome === 'passed' && c.notChecked?.length ? ' <span class="partly">partly checked</span>' : '';
  return `<tr class="check" data-outcome="${c.outcome}"><td><span class="badge ${c.outcome}">${c.outcome}</span>${partly}</td><td><code>${escapeHtml(c.id)}</code></td><td>${escapeHtml(c.title)}</td><td>${escapeHtml(c.severity)}</td></tr>
<tr class="detail" data-outcome="${c.outcome}"><td></td><td colspan="3">${detail}</td></tr>`;
}

/** One self-contained page (no external assets): summary, then every check with its requirement and evidence. */
export function toHtml(run: RunResult): string {
  const all = tally(run.suites.flatMap((s) => s.checks));
  const suiteRows = run.suites
    .map((s) => {
      const t = tally(s.checks);
      return `<tr><td><a href="#suite-${s.id}">${escapeHtml(s.id)}</a></td><td>${escapeHtml(s.title)}</td><td class="passed">${t.passed}</td><td class="failed">${t.failed}</td><td class="errored">${t.errored}</td><td class="skipped">${t.skipped}</td><td>${t.total}</td></tr>`;
    })
    .join('\n');
  const reqRows = tallyByRequirement(run)
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.suite)}</td><td>${link(r.url, r.section)}</td><td class="passed">${r.passed}</td><td class="failed">${r.failed}</td><td class="errored">${r.errored}</td><td class="skipped">${r.skipped}</td></tr>`,
    )
    .join('\n');
  const suites = run.suites
    .map(
      (s) => `<h2 id="suite-${s.id}">${escapeHtml(s.id)} — ${escapeHtml(s.title)}</h2><p class="req">${escapeHtml(s.spec)}</p>
<table><thead><tr><th>result</th><th>check</th><th>title</th><th>severity</th></tr></thead><tbody>
${s.checks.map(checkRows).join('\n')}
</tbody></table>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>carnet-conformance report — ${escapeHtml(run.base)}</title><style>${STYLE}</style></head>
<body>
<h1>carnet-conformance report</h1>
<p>Server <code>${escapeHtml(run.base)}</code>, run <code>${escapeHtml(run.runId)}</code>, started ${escapeHtml(run.startedAt)}, ${(run.durationMs / 1000).toFixed(1)} s, kit ${escapeHtml(run.kitVersion)}.</p>
<p><strong class="passed">${all.passed} passed</strong>, <strong class="failed">${all.failed} failed</strong>, <strong class="errored">${all.errored} errored</strong> (could not complete), <strong class="skipped">${all.skipped} skipped</strong> of ${all.total} checks.</p>
<table><thead><tr><th>suite</th><th>title</th><th>passed</th><th>failed</th><th>errored</th><th>skipped</th><th>total</th></tr></thead><tbody>${suiteRows}</tbody></table>
<details><summary>by requirement</summary><table><thead><tr><th>suite</th><th>requirement</th><th>passed</th><th>failed</th><th>errored</th><th>skipped</th></tr></thead><tbody>${reqRows}</tbody></table></details>
<p class="filters"><label><input type="checkbox" id="show-passed" checked> passed</label><label><input type="checkbox" id="show-failed" checked> failed</label><label><input type="checkbox" id="show-errored" checked> errored</label><label><input type="checkbox" id="show-skipped" checked> skipped</label></p>
${suites}
<script>${SCRIPT}</script>
</body></html>
`;
}

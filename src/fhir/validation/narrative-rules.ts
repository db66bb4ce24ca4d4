import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { ElementInfo } from './element-model-types.js';
import { hasNarrativeContent, narrativeProblem } from './narrative.js';
import { xhtmlSyntaxError } from './xhtml-syntax.js';

/** Each rule: undefined when it holds, else what breaks it ('' when there is nothing more to say than the rule). */
const RULES: Record<string, (div: string) => string | undefined> = {
  'txt-1': narrativeProblem,
  'txt-2': (div) => (hasNarrativeContent(div) ? undefined : ''),
};

/**
 * Narrative.div, the one xhtml element of R4: well-formed XML first; only a div
 * that is can be judged by txt-1 (allowed elements, attributes and URLs) and
 * txt-2 (some content), each reported on its own, with R4's words (the
 * element's constraints) and, for txt-1, what in the div breaks it.
 */
export function checkNarrativeDiv(div: string, info: ElementInfo, expr: string): OperationOutcomeIssue[] {
  const syntax = xhtmlSyntaxError(div);
  if (syntax) return [{ severity: 'error', code: 'value', expression: [expr], diagnostics: `${expr} is not well-formed XHTML: ${syntax}` }];
  const issues: OperationOutcomeIssue[] = [];
  for (const c of info.constraints ?? []) {
    const problem = RULES[c.key]?.(div);
    if (problem !== undefined) issues.push({ severity: c.severity, code: 'invariant', expression: [expr], diagnostics: `${c.key}: ${c.human} (${expr})${problem ? `: ${problem}` : ''}` });
  }
  return issues;
}

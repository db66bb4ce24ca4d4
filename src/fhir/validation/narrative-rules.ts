import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { ElementInfo } from './element-model-types.js';
import { hasNarrativeContent, hasOnlyBasicHtml } from './narrative.js';
import { xhtmlSyntaxError } from './xhtml-syntax.js';

const RULES: Record<string, (div: string) => boolean> = { 'txt-1': hasOnlyBasicHtml, 'txt-2': hasNarrativeContent };

/**
 * Narrative.div, the one xhtml element of R4: well-formed XML first; only a div
 * that is can be judged by txt-1 (allowed elements) and txt-2 (some content),
 * each reported on its own, with R4's words (the element's constraints).
 */
export function checkNarrativeDiv(div: string, info: ElementInfo, expr: string): OperationOutcomeIssue[] {
  const syntax = xhtmlSyntaxError(div);
  if (syntax) return [{ severity: 'error', code: 'value', expression: [expr], diagnostics: `${expr} is not well-formed XHTML: ${syntax}` }];
  const issues: OperationOutcomeIssue[] = [];
  for (const c of info.constraints ?? []) {
    const holds = RULES[c.key];
    if (holds && !holds(div)) issues.push({ severity: c.severity, code: 'invariant', expression: [expr], diagnostics: `${c.key}: ${c.human} (${expr})` });
  }
  return issues;
}

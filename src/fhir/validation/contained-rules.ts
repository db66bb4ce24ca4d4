import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { TypeIndex } from './element-index.js';

type ContainedRule = (contained: Record<string, unknown>) => boolean;

/** What each of DomainResource's rules on contained resources requires of one of them. */
const RULES: Record<string, ContainedRule> = {
  // dom-2: contained.contained.empty()
  'dom-2': (c) => c.contained === undefined,
  // dom-4: contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()
  'dom-4': (c) => metaOf(c)?.versionId === undefined && metaOf(c)?.lastUpdated === undefined,
  // dom-5: contained.meta.security.empty()
  'dom-5': (c) => metaOf(c)?.security === undefined,
};

/**
 * dom-2, dom-4 and dom-5 are stated on the container (`contained.contained.empty()`),
 * so evaluated as written they point at the container; checked per contained
 * resource, the issue names the one at fault (`Patient.contained[0]`). Each is
 * applied only where the type defines it (every DomainResource), with R4's words.
 */
export function checkContainedRules(index: TypeIndex, contained: unknown[], base: string): OperationOutcomeIssue[] {
  const constraints = (index.model.elements['']?.constraints ?? []).filter((c) => RULES[c.key]);
  const issues: OperationOutcomeIssue[] = [];
  contained.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return; // reported by the structure check
    const at = `${base}.contained[${i}]`;
    for (const c of constraints) {
      if (!RULES[c.key]!(item as Record<string, unknown>)) {
        issues.push({ severity: c.severity, code: 'invariant', expression: [at], diagnostics: `${c.key}: ${c.human} (${at})` });
      }
    }
  });
  return issues;
}

function metaOf(c: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = c.meta;
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
}

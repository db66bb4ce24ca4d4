import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { parseRelativeReference } from '../references.js';
import { isKnownResourceType } from './structure.js';

/**
 * In a transaction or batch Bundle being written, every reference must resolve:
 * `urn:uuid:`/`urn:oid:` ones to the fullUrl of an entry; relative ones (`Patient/1`)
 * name a known resource type (whether that resource exists is the caller's check,
 * unless an entry's fullUrl matches it); `#id` ones are local to their resource.
 * Absolute URLs that match no entry are external and left alone.
 */
export function validateBundleReferences(bundle: unknown): OperationOutcomeIssue[] {
  if (!bundle || typeof bundle !== 'object') return [];
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (b.resourceType !== 'Bundle' || (b.type !== 'transaction' && b.type !== 'batch') || !Array.isArray(b.entry)) return [];
  const fullUrls = new Set<string>();
  for (const e of b.entry as Array<{ fullUrl?: unknown } | null>) if (e && typeof e.fullUrl === 'string') fullUrls.add(e.fullUrl);
  const issues: OperationOutcomeIssue[] = [];
  (b.entry as Array<{ resource?: unknown } | null>).forEach((e, i) => {
    if (!e?.resource) return;
    walk(e.resource, `Bundle.entry[${i}].resource`, (ref, expr) => {
      const problem = checkReference(ref, fullUrls);
      if (problem) issues.push({ severity: 'error', code: problem.code, expression: [expr], diagnostics: `${problem.text} (${expr})` });
    });
  });
  return issues;
}

function checkReference(ref: string, fullUrls: Set<string>): { code: OperationOutcomeIssue['code']; text: string } | undefined {
  if (ref.startsWith('#') || fullUrls.has(ref)) return undefined;
  if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) {
    return { code: 'not-found', text: `Reference ${ref} matches no entry's fullUrl in the Bundle` };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return undefined;
  const named = parseRelativeReference(ref, { version: 'id' });
  if (!named) return { code: 'invalid', text: `Reference ${JSON.stringify(ref)} is neither Type/id, an absolute URL nor a fullUrl of the Bundle` };
  if (!isKnownResourceType(named.type)) return { code: 'invalid', text: `Reference ${ref} names an unknown resource type ${named.type}` };
  return undefined;
}

function walk(node: unknown, expr: string, visit: (ref: string, expr: string) => void): void {
  if (Array.isArray(node)) {
    node.forEach((v, i) => walk(v, `${expr}[${i}]`, visit));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'reference' && typeof value === 'string') visit(value, `${expr}.reference`);
    // resources nested in a contained list carry their own local references, checked the same way
    else if (typeof value === 'object') walk(value, `${expr}.${key}`, visit);
  }
}

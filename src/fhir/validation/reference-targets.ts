import { parseTypedUrl } from '../references.js';
import { isResourceType } from '../resource-types.js';

/** A conditional reference (`Patient?identifier=...`), resolved by a transaction. */
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?/;

/**
 * The resource type a reference names, when it says: a relative or absolute
 * literal reference, or a conditional one. A contained reference (`#id`), a
 * Bundle placeholder (`urn:uuid:`) or a URL that is not a FHIR resource's say
 * nothing here (placeholders are judged once the transaction resolved them).
 */
export function referencedType(reference: string): string | undefined {
  if (reference.charCodeAt(0) === 35 /* # */ || reference.startsWith('urn:')) return undefined;
  const type = CONDITIONAL.exec(reference)?.[1] ?? parseTypedUrl(reference, { version: 'id' })?.type;
  return type && isResourceType(type) ? type : undefined;
}

/**
 * What is wrong with a Reference whose element restricts its targets
 * (`Observation.subject`: Patient, Group, Device, Location): the type its
 * `reference` names, or its `type`, outside them. Undefined when nothing is.
 */
export function referenceTargetProblem(targets: readonly string[], reference: Record<string, unknown>): string | undefined {
  const named = typeof reference.reference === 'string' ? referencedType(reference.reference) : undefined;
  if (named && !targets.includes(named)) return `refers to a ${named}; expected ${describe(targets)}`;
  const declared = reference.type;
  if (typeof declared === 'string' && isResourceType(declared) && !targets.includes(declared)) {
    return `has type ${declared}; expected ${describe(targets)}`;
  }
  return undefined;
}

function describe(targets: readonly string[]): string {
  return targets.length === 1 ? `a ${targets[0]}` : `one of ${targets.join(', ')}`;
}

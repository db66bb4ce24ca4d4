import { parseTypedUrl } from '../references.js';
import { isResourceType } from '../resource-types.js';

/** A conditional reference (`Patient?identifier=...`), resolved by a transaction. */
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?/;

/** The resource type behind each local reference (`#id`, and `#` for the container) of a resource. */
export type LocalTargets = ReadonlyMap<string, string>;

/**
 * The resource type a reference names, when it says: a relative or absolute
 * literal reference, a conditional one, or a contained reference (`#id`) when
 * `local` knows it. A Bundle placeholder (`urn:uuid:`) or a URL that is not a
 * FHIR resource's say nothing here (placeholders are judged once the
 * transaction resolved them; a `#id` naming nothing is ref-1's to refuse).
 */
export function referencedType(reference: string, local?: LocalTargets): string | undefined {
  if (reference.charCodeAt(0) === 35 /* # */) return local?.get(reference);
  if (reference.startsWith('urn:')) return undefined;
  const type = CONDITIONAL.exec(reference)?.[1] ?? parseTypedUrl(reference, { version: 'id' })?.type;
  return type && isResourceType(type) ? type : undefined;
}

/**
 * What is wrong with a Reference whose element restricts its targets
 * (`Observation.subject`: Patient, Group, Device, Location): the type its
 * `reference` names, or its `type`, outside them. Undefined when nothing is.
 */
export function referenceTargetProblem(targets: readonly string[], reference: Record<string, unknown>, local?: LocalTargets): string | undefined {
  const ref = typeof reference.reference === 'string' ? reference.reference : undefined;
  const named = ref ? referencedType(ref, local) : undefined;
  if (ref && named && !targets.includes(named)) {
    const what = ref === '#' ? `its container, ${withArticle(named)}` : ref.charCodeAt(0) === 35 ? `the contained ${named} ${ref}` : withArticle(named);
    return `refers to ${what}; expected ${describe(targets)}`;
  }
  const declared = reference.type;
  if (typeof declared === 'string' && isResourceType(declared) && !targets.includes(declared)) {
    return `has type ${declared}; expected ${describe(targets)}`;
  }
  return undefined;
}

function describe(targets: readonly string[]): string {
  return targets.length === 1 ? withArticle(targets[0]!) : `one of ${targets.join(', ')}`;
}

function withArticle(type: string): string {
  return `${/^[AEIOU]/.test(type) ? 'an' : 'a'} ${type}`;
}

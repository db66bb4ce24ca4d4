/**
 * Literal references written as text (references.html#literal): `Type/id`,
 * `Type/id/_history/vid`, or an absolute URL ending so. One grammar for every
 * place that must tell what a reference names, so that the privacy checks,
 * the search index and the Bundle checks cannot disagree on it.
 *
 * Whether the type is one this server knows is left to the caller: the lists
 * differ (isResourceType, the validator's isKnownResourceType), and some
 * callers want one type only.
 */

/**
 * datatypes.html#id. The same rule as isValidId (resource-types.ts), which
 * this module does not import: that one loads the FHIRPath model, which the
 * sign-in and audit code that parse references here have no use for.
 */
const ID = '[A-Za-z0-9\\-.]{1,64}';
/** The shape of a resource type's name, so that `#x`, `urn:...` or `a/b` are never taken for one. */
const TYPE = '[A-Z][A-Za-z]+';

const ID_RE = new RegExp(`^${ID}$`);

/**
 * Whether `text` is a FHIR id, for text already known to be a string (a
 * search value, a header). isValidId guards any JSON value, so on a string
 * its false branch would narrow to `never`.
 */
export function isFhirId(text: string): boolean {
  return ID_RE.test(text);
}

/**
 * What may follow `Type/id` as `/_history/<version>`:
 * - `none`: nothing; a versioned reference does not name the current resource, which is what
 *   most callers look up;
 * - `id`: a versionId, which FHIR types as an id (what the validator accepts);
 * - `any`: any one segment, for a caller that only asks whether `Type/id` exists and leaves
 *   the version to others.
 */
export type VersionRule = 'none' | 'id' | 'any';

export interface ReferenceOptions {
  /** Default `none`. */
  version?: VersionRule;
}

export interface ReferenceParts {
  type: string;
  id: string;
  /** Present only for a versioned reference. */
  version?: string;
}

const VERSION_SUFFIX: Readonly<Record<VersionRule, string>> = {
  none: '',
  id: `(?:/_history/(${ID}))?`,
  any: '(?:/_history/([^/]+))?',
};

function compile(start: string): Readonly<Record<VersionRule, RegExp>> {
  const of = (rule: VersionRule) => new RegExp(`${start}(${TYPE})/(${ID})${VERSION_SUFFIX[rule]}$`);
  return { none: of('none'), id: of('id'), any: of('any') };
}

const RELATIVE = compile('^');
// The type must be a whole segment: `/` or the start before it, never the tail of a longer one.
const AT_END = compile('(?:^|/)');

function partsOf(match: RegExpExecArray | null): ReferenceParts | undefined {
  if (!match) return undefined;
  const parts: ReferenceParts = { type: match[1], id: match[2] };
  if (match[3] !== undefined) parts.version = match[3];
  return parts;
}

/** `Type/id` (or, as `options.version` allows, `Type/id/_history/vid`) and nothing else: no base, no query. */
export function parseRelativeReference(text: string, options?: ReferenceOptions): ReferenceParts | undefined {
  return partsOf(RELATIVE[options?.version ?? 'none'].exec(text));
}

/**
 * A relative reference or a URL (on any server) whose last segments are
 * `Type/id` (or `Type/id/_history/vid`, as `options.version` allows). Which
 * server it names is the caller's question: only a relative one, or one under
 * this server's base (relativeToBase), names a resource stored here.
 */
export function parseTypedUrl(text: string, options?: ReferenceOptions): ReferenceParts | undefined {
  return partsOf(AT_END[options?.version ?? 'none'].exec(text));
}

/**
 * `reference` without this server's base: clients may write a local reference
 * either way (`Patient/1`, `<fhirBase>/Patient/1`), and both must name the
 * same resource. Anything else comes back unchanged.
 */
export function relativeToBase(reference: string, fhirBase: string): string {
  return reference.startsWith(`${fhirBase}/`) ? reference.slice(fhirBase.length + 1) : reference;
}

/** parseRelativeReference of `reference` written relative or under this server's base. */
export function parseLocalReference(reference: string, fhirBase: string, options?: ReferenceOptions): ReferenceParts | undefined {
  return parseRelativeReference(relativeToBase(reference, fhirBase), options);
}

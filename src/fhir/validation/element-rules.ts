import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { ElementInfo } from './element-model-types.js';
import { isPrimitiveType, typeIndex, valueSetCodes, type ChildLookup, type TypeIndex } from './element-index.js';
import { isBase64Binary } from './base64.js';
import { codedBindingProblem } from './coded-binding.js';
import { checkContainedRules } from './contained-rules.js';
import { compileFastInvariant } from './fast-invariant.js';
import { NATIVE_INVARIANTS, type InvariantEnv } from './invariants.js';
import { checkNarrativeDiv } from './narrative-rules.js';
import { referenceTargetProblem, type LocalTargets } from './reference-targets.js';
import { checkStructure, type StructureIssue } from './structure.js';

const MAX_STRING = 1024 * 1024;
/** R4 integer is a signed 32-bit value; positiveInt and unsignedInt share its upper bound (datatypes.html#integer). */
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

interface Ctx {
  issues: StructureIssue[];
  env: InvariantEnv;
  /** The local references (`#id`, `#`) this resource's references resolve to: see localTargets. */
  local: LocalTargets | undefined;
}

/**
 * The rules the JSON schema cannot express, from the R4 StructureDefinitions:
 * minimum and maximum cardinality, no empty element or array, one choice per
 * `[x]`, string size, real calendar dates, required bindings, the resource types
 * a Reference may name, FHIRPath invariants;
 * and nested resources (contained, Bundle entries, Parameters) validated in full.
 */
export function checkElements(resource: Record<string, unknown>, base: string, rootResource: unknown = resource, container?: LocalTargets): StructureIssue[] {
  const ctx: Ctx = { issues: [], env: { resource, rootResource }, local: container ?? localTargets(resource) };
  const index = typeIndex(resource.resourceType as string);
  if (index) checkObject(ctx, index, '', resource, base);
  if (Array.isArray(resource.contained)) {
    checkContainedReferenced(ctx, resource, base);
    if (index) ctx.issues.push(...checkContainedRules(index, resource.contained as unknown[], base));
  }
  if (resource.resourceType === 'Bundle') checkUniqueFullUrls(ctx, resource, base);
  return ctx.issues;
}

function checkObject(ctx: Ctx, index: TypeIndex, path: string, node: Record<string, unknown>, expr: string, isElement = path !== ''): void {
  const lookup = index.byJsonName(path);
  let seenChoice: Map<string, string> | undefined;
  let hasContent = false;
  for (const key in node) {
    const value = node[key];
    if (key === 'resourceType' || value === undefined) continue;
    hasContent = true;
    if (key.charCodeAt(0) === 95 /* _ */) {
      const named = key.slice(1);
      // `_valueString` is value[x] holding a string as surely as `valueString` is: one type per choice.
      const twin = lookup.get(named);
      if (twin?.def.info.choice) seenChoice = checkOneChoice(ctx, seenChoice, twin.name, named, expr, key);
      checkPrimitiveExtension(ctx, value, Object.hasOwn(node, named) ? node[named] : undefined, `${expr}.${key}`, `${expr}.${named}`);
      continue;
    }
    const child = lookup.get(key);
    if (!child) continue; // reported by the structure check
    if (child.def.info.choice) seenChoice = checkOneChoice(ctx, seenChoice, child.name, key, expr, key);
    if (Array.isArray(value)) {
      if (value.length === 0) {
        error(ctx, 'structure', `${expr}.${key}`, `${expr}.${key} is an empty array: leave the element out instead`);
        continue;
      }
      const max = child.def.info.max;
      if (max > 1 && value.length > max) {
        error(ctx, 'structure', `${expr}.${key}`, `${expr}.${key} has ${value.length} items; at most ${max} allowed`);
      }
      for (let i = 0; i < value.length; i++) checkValue(ctx, index, child, value[i], `${expr}.${key}[${i}]`);
    } else {
      checkValue(ctx, index, child, value, `${expr}.${key}`);
    }
  }
  if (!hasContent && isElement) error(ctx, 'structure', expr, `${expr} is empty: an element must have a value or children (ele-1)`);
  for (const def of index.childrenOf(path)) {
    if (def.info.min === 0) continue;
    if (isPresent(node, def.name, def.info)) continue;
    error(ctx, 'required', `${expr}.${def.name}${def.info.choice ? '[x]' : ''}`,
      `${expr}.${def.name}${def.info.choice ? '[x]' : ''} is required (minimum cardinality ${def.info.min}) but missing`);
  }
  const info = index.model.elements[path];
  if (info?.constraints) checkInvariants(ctx, index, path, info, node, expr);
}

/**
 * Records that choice `name`[x] holds the type of JSON property `chosen` (`valueString`, also when
 * met as `_valueString`), and refuses a second type. `key` is the property as written, for the location.
 */
function checkOneChoice(ctx: Ctx, seen: Map<string, string> | undefined, name: string, chosen: string, expr: string, key: string): Map<string, string> {
  const other = seen?.get(name);
  if (other === undefined) return (seen ?? new Map<string, string>()).set(name, chosen);
  if (other !== chosen) error(ctx, 'structure', `${expr}.${key}`, `Only one of ${other} and ${chosen} may be present (${name}[x] holds one value)`);
  return seen as Map<string, string>;
}

function isPresent(node: Record<string, unknown>, name: string, info: ElementInfo): boolean {
  if (info.choice) {
    // `_valueString` alone (a value known only by its extensions) is present, as `_name` is for other elements.
    for (const key in node) {
      const at = key.charCodeAt(0) === 95 /* _ */ ? 1 : 0;
      if (key.startsWith(name, at) && /^[A-Z]/.test(key.slice(at + name.length))) return true;
    }
    return false;
  }
  return node[name] !== undefined || node[`_${name}`] !== undefined;
}

function checkValue(ctx: Ctx, index: TypeIndex, child: ChildLookup, value: unknown, expr: string): void {
  const type = child.type;
  const info = child.def.info;
  if (value === null || typeof value !== 'object') {
    if (isPrimitiveType(type)) {
      checkPrimitive(ctx, type, info, value, expr);
      if (type === 'xhtml' && typeof value === 'string') ctx.issues.push(...checkNarrativeDiv(value, info, expr));
      if (info.constraints) checkInvariants(ctx, index, child.def.path, info, value, expr);
    }
    return; // wrong JSON types are reported by the structure check
  }
  if (Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  if (type === 'Resource') {
    // A contained resource's `#id` references resolve in its container (references.html#contained).
    checkNestedResource(ctx, obj, expr, child.def.path === 'contained' ? ctx.local : undefined);
    return;
  }
  if (info.contentReference !== undefined) {
    checkObject(ctx, index, info.contentReference, obj, expr);
    return;
  }
  if ((type === 'BackboneElement' || type === 'Element') && index.hasChildren(child.def.path)) {
    checkObject(ctx, index, child.def.path, obj, expr);
    return;
  }
  const dataType = typeIndex(type);
  if (!dataType) return;
  if (info.binding) checkCodedBinding(ctx, type, info.binding, obj, expr);
  if (info.targets && type === 'Reference') {
    const problem = referenceTargetProblem(info.targets, obj, ctx.local);
    if (problem) error(ctx, 'value', expr, `${expr} ${problem}`);
  }
  if (type === 'Extension') checkExtensionContent(ctx, obj, expr);
  checkObject(ctx, dataType, '', obj, expr, true);
  if (info.constraints) checkInvariants(ctx, index, child.def.path, info, obj, expr);
}

/** ext-1 (`extension.exists() != value.exists()`): an extension holds a value or extensions, never both, never neither. */
function checkExtensionContent(ctx: Ctx, obj: Record<string, unknown>, expr: string): void {
  let hasValue = false;
  for (const key in obj) {
    // `_valueString` alone (a value known only by its extensions) is a value too, as FHIRPath sees it.
    if (obj[key] !== undefined && (key.startsWith('value') || key.startsWith('_value'))) {
      hasValue = true;
      break;
    }
  }
  if (hasValue !== (obj.extension !== undefined)) return;
  error(ctx, 'invariant', expr, hasValue
    ? `${expr}: an extension must have either extensions or a value, not both (ext-1)`
    : `${expr}: an extension must have either extensions or a value, not neither (ext-1)`);
}

function checkNestedResource(ctx: Ctx, res: Record<string, unknown>, expr: string, container: LocalTargets | undefined): void {
  const structure = checkStructure(res, expr);
  ctx.issues.push(...structure);
  if (structure.some((i) => i.malformed && i.expression?.[0] === expr)) return;
  // %rootResource is the container for a contained resource, the resource itself for a Bundle entry or a Parameters part (fhirpath.html#vars).
  ctx.issues.push(...checkElements(res, expr, container ? ctx.env.resource : res, container));
}

/**
 * The types of the resources a local reference may name: each contained
 * resource by `#id`, and the container itself by `#`. Undefined for a
 * resource without contained ones (most), whose `#` references ref-1 refuses.
 */
function localTargets(resource: Record<string, unknown>): LocalTargets | undefined {
  if (!Array.isArray(resource.contained)) return undefined;
  const targets = new Map<string, string>();
  if (typeof resource.resourceType === 'string') targets.set('#', resource.resourceType);
  for (const c of resource.contained as unknown[]) {
    if (!c || typeof c !== 'object') continue;
    const { id, resourceType } = c as Record<string, unknown>;
    if (typeof id === 'string' && typeof resourceType === 'string') targets.set(`#${id}`, resourceType);
  }
  return targets;
}

/**
 * `_name` (json.html#primitive): the id and extensions of primitive `name`, checked as an Element.
 * A repeating primitive's two arrays have the same length, null holding the places, so that
 * item i of one belongs to item i of the other; a position with no value needs an extension,
 * an id alone being no content (ele-1: `hasValue() or (children().count() > id.count())`).
 * The JSON types themselves (`_given` not an array) are the structure check's.
 */
function checkPrimitiveExtension(ctx: Ctx, value: unknown, values: unknown, expr: string, valuesExpr: string): void {
  const element = typeIndex('Element');
  if (!element) return;
  if (!Array.isArray(value)) {
    if (value === null || typeof value !== 'object') return;
    checkObject(ctx, element, '', value as Record<string, unknown>, expr, true);
    if (values === undefined || values === null) checkValueless(ctx, value as Record<string, unknown>, expr, valuesExpr);
    return;
  }
  if (value.length === 0) {
    error(ctx, 'structure', expr, `${expr} is an empty array: leave the element out instead`);
    return;
  }
  const aligned = Array.isArray(values) ? values : undefined;
  if (aligned && aligned.length !== value.length) {
    ctx.issues.push({ severity: 'error', code: 'structure', malformed: true, expression: [expr],
      diagnostics: `${expr} has ${value.length} item${value.length === 1 ? '' : 's'} and ${valuesExpr} ${aligned.length}: the two arrays must have the same length, null holding the place of a missing value or extension (R4 JSON)` });
  }
  for (let i = 0; i < value.length; i++) {
    const item = value[i] as unknown;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    checkObject(ctx, element, '', item as Record<string, unknown>, `${expr}[${i}]`, true);
    const own = aligned?.[i];
    if (own === undefined || own === null) checkValueless(ctx, item as Record<string, unknown>, `${expr}[${i}]`, `${valuesExpr}[${i}]`);
  }
}

/** ele-1 for a primitive with no value: its `_` element must carry an extension (an empty one is reported as empty). */
function checkValueless(ctx: Ctx, element: Record<string, unknown>, expr: string, valueExpr: string): void {
  if (element.extension !== undefined) return;
  for (const key in element) {
    if (element[key] === undefined) continue;
    error(ctx, 'invariant', expr, `${valueExpr} has no value and ${expr} no extension: a primitive element needs a value or an extension, an id alone is not enough (ele-1)`);
    return;
  }
}

function checkPrimitive(ctx: Ctx, type: string, info: ElementInfo, value: unknown, expr: string): void {
  if (typeof value === 'string') {
    if (value.length > MAX_STRING && type !== 'xhtml' && type !== 'base64Binary') error(ctx, 'too-long', expr, `${expr} is longer than 1 MiB`);
    // The JSON schema gives base64Binary no pattern at all.
    if (type === 'base64Binary' && !isBase64Binary(value)) {
      error(ctx, 'value', expr, `${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? '...' : ''} is not a valid base64Binary (${expr})`);
    }
    if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isCalendarDate(value)) {
      error(ctx, 'value', expr, `${JSON.stringify(value.slice(0, 40))} is not a real calendar date (${expr})`);
    }
    if (info.binding && (type === 'code' || type === 'string' || type === 'uri')) {
      const vs = valueSetCodes(info.binding);
      if (vs && ![...vs.values()].some((codes) => codes.has(value))) {
        error(ctx, 'code-invalid', expr, `Code ${JSON.stringify(value)} is not in the required value set ${info.binding} (${expr})`);
      }
    }
  } else if (typeof value === 'number' && (type === 'integer' || type === 'unsignedInt' || type === 'positiveInt')) {
    checkInteger(ctx, type, value, expr);
  }
}

/** The JSON schema types these as any number (its patterns apply to strings only), so 1.5 or 1e11 got through. */
function checkInteger(ctx: Ctx, type: string, value: number, expr: string): void {
  const min = type === 'integer' ? INT32_MIN : type === 'unsignedInt' ? 0 : 1;
  if (Number.isInteger(value) && value >= min && value <= INT32_MAX) return;
  error(ctx, 'value', expr, `${value} is not a valid ${type}, a whole number from ${min} to ${INT32_MAX} (${expr})`);
}

function isCalendarDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return true;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return days !== undefined && d >= 1 && d <= days;
}

/**
 * A required binding on a Coding or a CodeableConcept (coded-binding.ts). A value set the server
 * cannot expand (null: an external code system such as UCUM) or does not know is not checked.
 */
function checkCodedBinding(ctx: Ctx, type: string, binding: string, obj: Record<string, unknown>, expr: string): void {
  if (type !== 'Coding' && type !== 'CodeableConcept') return;
  const vs = valueSetCodes(binding);
  if (!vs) return;
  const problem = codedBindingProblem(vs, type === 'Coding' ? [obj] : obj.coding, `the required value set ${binding}`);
  if (problem) error(ctx, 'code-invalid', expr, `${expr}: ${problem}`);
}

function checkInvariants(ctx: Ctx, index: TypeIndex, path: string, info: ElementInfo, node: unknown, expr: string): void {
  // The FHIRPath base is needed only to compile, once per constraint.
  const base = (): string => (path ? `${index.name}.${path}` : index.name);
  // A literal with the fields in ctx.env's order: `{ ...ctx.env, resource }` gave every copy a hidden class of its own.
  const env: InvariantEnv = path === '' && index.model.kind === 'resource' ? { resource: node, rootResource: ctx.env.rootResource } : ctx.env;
  for (const c of info.constraints ?? []) {
    if (NATIVE_INVARIANTS.has(c.key)) continue;
    const inv = compileFastInvariant(index, path, base, c);
    if (!inv) continue;
    if (inv.holds(node, env) === false) {
      ctx.issues.push({ severity: inv.severity, code: 'invariant', expression: [expr], diagnostics: `${inv.key}: ${inv.human} (${expr})` });
    }
  }
}

/**
 * dom-3: each contained resource is referred to from elsewhere in the resource, or refers to its container ('#').
 * One without an id cannot be referred to: R4's FHIRPath for dom-3 lets it through ('#' + {} is empty), its text does not.
 */
function checkContainedReferenced(ctx: Ctx, resource: Record<string, unknown>, base: string): void {
  const contained = resource.contained as unknown[];
  const refs = new Set<string>();
  collectLocalRefs(resource, refs);
  contained.forEach((c, i) => {
    if (!c || typeof c !== 'object') return;
    const { id, resourceType } = c as Record<string, unknown>;
    if (typeof resourceType !== 'string') return; // reported by the structure check
    if (id !== undefined && (typeof id !== 'string' || refs.has(`#${id}`))) return; // a non-string id: reported by the structure check
    const own = new Set<string>();
    collectLocalRefs(c, own);
    if (own.has('#')) return;
    const at = `${base}.contained[${i}]`;
    ctx.issues.push({ severity: 'error', code: 'invariant', expression: [at],
      diagnostics: id === undefined
        ? `dom-3: contained ${resourceType} has no id, so nothing in the resource can refer to it (${at})`
        : `dom-3: contained resource '${id}' is not referenced from the rest of the resource (${at})` });
  });
}

function collectLocalRefs(node: unknown, into: Set<string>): void {
  if (typeof node === 'string') {
    if (node.charCodeAt(0) === 35 /* # */) into.add(node);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const v of node) collectLocalRefs(v, into);
    return;
  }
  for (const k in node) if (k !== 'id') collectLocalRefs((node as Record<string, unknown>)[k], into);
}

/** bdl-7: fullUrl unique in a Bundle, unless versions differ (history bundles excepted). */
function checkUniqueFullUrls(ctx: Ctx, bundle: Record<string, unknown>, base: string): void {
  if (bundle.type === 'history' || !Array.isArray(bundle.entry)) return;
  const seen = new Set<string>();
  for (const e of bundle.entry as Array<Record<string, unknown> | null>) {
    if (!e || typeof e.fullUrl !== 'string') continue;
    const meta = (e.resource as { meta?: { versionId?: string } } | undefined)?.meta;
    const key = `${e.fullUrl}|${meta?.versionId ?? ''}`;
    if (seen.has(key)) {
      ctx.issues.push({ severity: 'error', code: 'invariant', expression: [base],
        diagnostics: `bdl-7: fullUrl ${e.fullUrl} appears more than once in the Bundle (${base})` });
      return;
    }
    seen.add(key);
  }
}

function error(ctx: Ctx, code: OperationOutcomeIssue['code'], expr: string, diagnostics: string): void {
  ctx.issues.push({ severity: 'error', code, expression: [expr], diagnostics });
}

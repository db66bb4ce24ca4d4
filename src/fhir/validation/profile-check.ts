import type { ElementDefinition, ElementDefinitionSlicingDiscriminator, OperationOutcomeIssue, StructureDefinition } from '@medplum/fhirtypes';
import type { ConstraintInfo } from './element-model-types.js';
import { typeIndex } from './element-index.js';
import { isKnownResourceType } from './structure.js';
import { referencedType } from './reference-targets.js';
import { compileFastInvariant } from './fast-invariant.js';
import { compileInvariant, type CompiledInvariant } from './invariants.js';
import { NATIVE_PROFILE_INVARIANTS } from './native-profile-invariants.js';
import { codedBindingProblem } from './coded-binding.js';

/** The snapshot as a tree: element children by name, and the slices of each sliced element. */
interface PNode {
  ed: ElementDefinition;
  name: string;
  children: PNode[];
  slices: PNode[];
  /** False when neither this element nor anything below it says more than the base definition (skipped). */
  relevant?: boolean;
}

interface Item {
  value: unknown;
  expr: string;
  /** The JSON property the value came from (valueQuantity for value[x]). */
  key: string;
}

export type CodeLookup = (valueSet: string) => Map<string, Set<string>> | null | undefined;

const trees = new WeakMap<StructureDefinition, PNode>();

function treeOf(sd: StructureDefinition): PNode | undefined {
  let root = trees.get(sd);
  if (root) return root;
  const elements = sd.snapshot?.element ?? [];
  if (!elements.length) return undefined;
  const byId = new Map<string, PNode>();
  for (const ed of elements) {
    const id = ed.id ?? ed.path ?? '';
    const node: PNode = { ed, name: lastName(id), children: [], slices: [] };
    byId.set(id, node);
    const cut = Math.max(id.lastIndexOf('.'), id.lastIndexOf(':'));
    if (cut < 0) {
      root = node;
      continue;
    }
    const parent = byId.get(id.slice(0, cut));
    if (!parent) continue;
    if (id[cut] === ':') parent.slices.push(node);
    else parent.children.push(node);
  }
  if (root) {
    markRelevant(root, sd.url, sd.type as string);
    trees.set(sd, root);
  }
  return root;
}

function markRelevant(node: PNode, url: string | undefined, type: string): boolean {
  let relevant = saysMore(node, url, type);
  for (const c of node.children) relevant = markRelevant(c, url, type) || relevant;
  for (const s of node.slices) {
    markRelevant(s, url, type);
    relevant = true;
  }
  node.relevant = relevant;
  return relevant;
}

function saysMore(node: PNode, url: string | undefined, type: string): boolean {
  const ed = node.ed;
  if (node.slices.length || ed.sliceName) return true;
  if ((ed.min ?? 0) > (ed.base?.min ?? 0)) return true;
  if (ed.max !== undefined && ed.base?.max !== undefined && ed.max !== '*' && (ed.base.max === '*' || Number(ed.max) < Number(ed.base.max))) return true;
  if (ed.path?.endsWith('[x]') || ed.maxLength) return true;
  for (const key in ed) if (/^(fixed|pattern|minValue|maxValue)/.test(key)) return true;
  if (ed.type?.some((t) => t.code === 'Reference' && t.targetProfile?.length)) return true;
  if (ed.constraint?.some((c) => c.expression && (c.source === undefined || c.source === url))) return true;
  if (ed.binding?.strength === 'required' && ed.binding.valueSet) {
    const rel = (ed.path as string).slice(type.length + 1);
    return typeIndex(type)?.model.elements[rel]?.binding !== ed.binding.valueSet.split('|')[0];
  }
  return false;
}

function lastName(id: string): string {
  const seg = id.slice(id.lastIndexOf('.') + 1);
  return seg.split(':')[0];
}

/** Checks `resource` against a profile's snapshot: cardinality, types, fixed and pattern values, min/max values, lengths, required bindings, slices. */
export function checkAgainstProfile(resource: Record<string, unknown>, base: string, sd: StructureDefinition, codes: CodeLookup): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const root = treeOf(sd);
  if (!root) return issues;
  const label = sd.name ?? sd.url ?? 'profile';
  const top = { value: resource, expr: base, key: '' };
  checkProfileInvariants(root.ed, sd.url, top, resource, issues);
  checkChildren(root, [top], issues, label, codes, sd.url, resource);
  return issues;
}

/** Invariants the profile itself adds (their source is the profile); the base ones were checked already. */
function checkProfileInvariants(ed: ElementDefinition, url: string | undefined, item: Item, resource: unknown, issues: OperationOutcomeIssue[]): void {
  for (const c of ed.constraint ?? []) {
    if (!c.expression || !c.key || (c.source !== undefined && c.source !== url)) continue;
    const inv = profileInvariant(ed.path as string, c as ConstraintInfo & object);
    const native = NATIVE_PROFILE_INVARIANTS[c.key];
    const holds = native ? native(item.value) : inv?.holds(item.value, { resource, rootResource: resource });
    if (inv && holds === false) {
      issues.push({ severity: inv.severity, code: 'invariant', expression: [item.expr], diagnostics: `${c.key}: ${inv.human} (${item.expr})` });
    }
  }
}

const profileInvariants = new WeakMap<object, CompiledInvariant | null>();

/** Compiled once per constraint object of a snapshot; the native shortcuts of fast-invariant.ts apply. */
function profileInvariant(path: string, c: { key?: string; severity?: string; human?: string; expression?: string }): CompiledInvariant | null {
  const cached = profileInvariants.get(c);
  if (cached !== undefined) return cached;
  const info: ConstraintInfo = { key: c.key as string, severity: c.severity === 'warning' ? 'warning' : 'error', human: c.human ?? (c.key as string), expression: c.expression as string };
  const dot = path.indexOf('.');
  const index = typeIndex(dot < 0 ? path : path.slice(0, dot));
  const rel = dot < 0 ? '' : path.slice(dot + 1);
  const inv = index && !rel.endsWith('[x]') ? compileFastInvariant(index, rel, path, info) : compileInvariant(path, info);
  profileInvariants.set(c, inv);
  return inv;
}

function checkChildren(node: PNode, parents: Item[], issues: OperationOutcomeIssue[], label: string, codes: CodeLookup, url: string | undefined, resource: unknown): void {
  for (const child of node.children) {
    if (!child.relevant) continue;
    const all: Item[] = [];
    for (const parent of parents) {
      const values = navigate(parent, child);
      checkCardinality(child.ed, values.length, `${parent.expr}.${displayName(child)}`, issues, label);
      if (child.name.endsWith('[x]')) checkValuelessChoices(child, parent, issues, label);
      for (const v of values) {
        checkValue(child.ed, v, issues, label, codes);
        checkProfileInvariants(child.ed, url, v, resource, issues);
      }
      for (const slice of child.slices) {
        const matched = values.filter((v) => matchesSlice(child, slice, v));
        checkCardinality(slice.ed, matched.length, `${parent.expr}.${displayName(child)}`, issues, label, slice.ed.sliceName);
        for (const v of matched) checkValue(slice.ed, v, issues, label, codes);
        checkChildren(slice, matched, issues, label, codes, url, resource);
      }
      if (child.ed.slicing?.rules === 'closed' && child.slices.length) {
        for (const v of values) {
          if (!child.slices.some((s) => matchesSlice(child, s, v))) {
            issues.push(issue('structure', v.expr, `${v.expr} matches none of the slices of ${displayName(child)} allowed by ${label}`));
          }
        }
      }
      all.push(...values);
    }
    if (all.length && child.children.length) checkChildren(child, all, issues, label, codes, url, resource);
  }
}

function displayName(node: PNode): string {
  return node.ed.path?.endsWith('[x]') ? `${node.name}` : node.name;
}

function navigate(parent: Item, child: PNode): Item[] {
  const v = parent.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
  const obj = v as Record<string, unknown>;
  const out: Item[] = [];
  const push = (key: string, value: unknown): void => {
    if (Array.isArray(value)) value.forEach((x, i) => out.push({ value: x, expr: `${parent.expr}.${key}[${i}]`, key }));
    else if (value !== undefined) out.push({ value, expr: `${parent.expr}.${key}`, key });
  };
  if (child.name.endsWith('[x]')) {
    const stem = child.name.slice(0, -3);
    for (const key in obj) if (key.startsWith(stem) && /^[A-Z]/.test(key.slice(stem.length))) push(key, obj[key]);
  } else {
    push(child.name, obj[child.name]);
  }
  return out;
}

/**
 * `_valueString` with no `valueString` beside it (a value known only by its extensions) still
 * makes value[x] a string: a profile that allows only a Quantity refuses it, as it refuses `valueString`.
 */
function checkValuelessChoices(child: PNode, parent: Item, issues: OperationOutcomeIssue[], label: string): void {
  const v = parent.value;
  const types = child.ed.type?.map((t) => t.code) ?? [];
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !types.length) return;
  const obj = v as Record<string, unknown>;
  const stem = child.name.slice(0, -3);
  for (const key in obj) {
    if (key.charCodeAt(0) !== 95 /* _ */ || !key.startsWith(stem, 1) || obj[key.slice(1)] !== undefined) continue;
    const chosen = key.slice(1 + stem.length);
    if (!/^[A-Z]/.test(chosen) || types.some((t) => t && t.toLowerCase() === chosen.toLowerCase())) continue;
    const at = `${parent.expr}.${key}`;
    issues.push(issue('structure', at, `${at}: type ${chosen} is not allowed by ${label} (expected ${types.join(' or ')})`));
  }
}

function checkCardinality(ed: ElementDefinition, count: number, expr: string, issues: OperationOutcomeIssue[], label: string, slice?: string): void {
  const min = ed.min ?? 0;
  const max = ed.max === '*' || ed.max === undefined ? Infinity : Number(ed.max);
  // The base rules already report the base cardinality; only what the profile tightens is said here.
  const baseMin = slice ? 0 : ed.base?.min ?? 0;
  const baseMax = slice ? Infinity : ed.base?.max === '*' || ed.base?.max === undefined ? Infinity : Number(ed.base.max);
  const what = slice ? `${expr} (slice '${slice}')` : expr;
  if (count < min && min > baseMin) issues.push(issue('required', expr, `${what}: at least ${min} required by ${label}, found ${count}`));
  if (count > max && max < baseMax) issues.push(issue('structure', expr, `${what}: at most ${max} allowed by ${label}, found ${count}`));
}

function checkValue(ed: ElementDefinition, item: Item, issues: OperationOutcomeIssue[], label: string, codes: CodeLookup): void {
  const types = ed.type?.map((t) => t.code) ?? [];
  if (ed.path?.endsWith('[x]') && types.length) {
    const stem = lastName(ed.path).slice(0, -3);
    const chosen = item.key.slice(stem.length);
    if (!types.some((t) => t && t.toLowerCase() === chosen.toLowerCase())) {
      issues.push(issue('structure', item.expr, `${item.expr}: type ${chosen} is not allowed by ${label} (expected ${types.join(' or ')})`));
      return;
    }
  }
  for (const key in ed) {
    if (key.startsWith('fixed')) {
      const fixed = (ed as unknown as Record<string, unknown>)[key];
      if (!deepEqual(item.value, fixed)) issues.push(issue('value', item.expr, `${item.expr} must be exactly ${JSON.stringify(fixed)} (${label})`));
    } else if (key.startsWith('pattern')) {
      const pattern = (ed as unknown as Record<string, unknown>)[key];
      if (!matchesPattern(item.value, pattern)) issues.push(issue('value', item.expr, `${item.expr} must match ${JSON.stringify(pattern)} (${label})`));
    } else if (key.startsWith('minValue') || key.startsWith('maxValue')) {
      const bound = (ed as unknown as Record<string, unknown>)[key];
      const actual = comparable(item.value);
      const limit = comparable(bound);
      if (actual === undefined || limit === undefined) continue;
      const low = key.startsWith('min');
      if (low ? actual < limit : actual > limit) {
        issues.push(issue('value', item.expr, `${item.expr} must be ${low ? 'at least' : 'at most'} ${JSON.stringify(limit)} (${label})`));
      }
    }
  }
  if (ed.maxLength && typeof item.value === 'string' && item.value.length > ed.maxLength) {
    issues.push(issue('too-long', item.expr, `${item.expr} is longer than ${ed.maxLength} characters (${label})`));
  }
  const targets = ed.type?.find((t) => t.code === 'Reference')?.targetProfile;
  const ref = (item.value as { reference?: unknown } | null)?.reference;
  const named = targets?.length && typeof ref === 'string' ? referencedType(ref) : undefined;
  if (targets?.length && named) {
    const allowed = targets.map((t) => t.slice(t.lastIndexOf('/') + 1));
    // A target that is a profile (vitalsigns) rather than a type cannot be told from the reference alone.
    const decidable = allowed.every((a) => isKnownResourceType(a));
    if (decidable && !allowed.includes('Resource') && !allowed.includes(named)) {
      issues.push(issue('structure', item.expr, `${item.expr} must refer to ${allowed.join(' or ')}, not ${named} (${label})`));
    }
  }
  if (ed.binding?.strength === 'required' && ed.binding.valueSet) checkBinding(ed, ed.binding.valueSet.split('|')[0], item, issues, label, codes);
}

function checkBinding(ed: ElementDefinition, valueSet: string, item: Item, issues: OperationOutcomeIssue[], label: string, codes: CodeLookup): void {
  const vs = codes(valueSet);
  if (!vs) return;
  const v = item.value;
  if (v === null || (typeof v !== 'object' && typeof v !== 'string')) return;
  const type = boundType(ed, item) ?? (typeof v === 'object' && Array.isArray((v as { coding?: unknown }).coding) ? 'CodeableConcept' : undefined);
  if (type === 'CodeableConcept' || type === 'Coding') {
    if (typeof v !== 'object' || Array.isArray(v)) return; // reported by the structure check
    // As for the base definitions (coded-binding.ts): a coding with its system and a code of the value set; text alone does not do.
    const problem = codedBindingProblem(vs, type === 'Coding' ? [v] : (v as { coding?: unknown }).coding, `the value set ${valueSet} required by ${label}`);
    if (problem) issues.push(issue('code-invalid', item.expr, `${item.expr}: ${problem}`));
    return;
  }
  // A code (a string, which has no system), or a Quantity's system and code.
  const ok = (system: unknown, code: unknown): boolean =>
    typeof code === 'string' && (typeof system === 'string' ? vs.get(system)?.has(code) ?? false : [...vs.values()].some((s) => s.has(code)));
  let pass: boolean;
  if (typeof v === 'string') pass = ok(undefined, v);
  else if ('code' in v) pass = ok((v as { system?: string }).system, (v as { code?: string }).code);
  else return;
  if (!pass) issues.push(issue('code-invalid', item.expr, `${item.expr}: code not in the value set ${valueSet} required by ${label}`));
}

/** The type `item` holds: the one its JSON name chose for a choice element (valueCodeableConcept), else the element's. */
function boundType(ed: ElementDefinition, item: Item): string | undefined {
  const types = ed.type ?? [];
  if (ed.path?.endsWith('[x]')) {
    const chosen = item.key.slice(lastName(ed.path).length - 3).toLowerCase();
    return types.find((t) => t.code?.toLowerCase() === chosen)?.code;
  }
  return types.length === 1 ? types[0].code : undefined;
}

function comparable(v: unknown): number | string | undefined {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number') return (v as { value: number }).value;
  return undefined;
}

function matchesSlice(sliced: PNode, slice: PNode, item: Item): boolean {
  const discriminators = sliced.ed.slicing?.discriminator ?? [];
  if (!discriminators.length) return false;
  return discriminators.every((d) => matchesDiscriminator(d, slice, item));
}

function matchesDiscriminator(d: ElementDefinitionSlicingDiscriminator, slice: PNode, item: Item): boolean {
  const path = d.path ?? '$this';
  if (d.type === 'type') return path === '$this' ? item.key === slice.ed.sliceName || typeMatches(slice, item) : true;
  if (d.type === 'exists') return true;
  if (d.type !== 'value' && d.type !== 'pattern') return false;
  const segments = path === '$this' ? [] : path.split('.');
  const wanted = expectedValues(slice, segments);
  if (!wanted.length) return true;
  const actual = valuesAt(item.value, segments);
  return wanted.every((w) => actual.some((a) => matchesPattern(a, w)));
}

function typeMatches(slice: PNode, item: Item): boolean {
  const types = slice.ed.type?.map((t) => t.code?.toLowerCase()) ?? [];
  const stem = slice.name.endsWith('[x]') ? slice.name.slice(0, -3) : slice.name;
  return types.includes(item.key.slice(stem.length).toLowerCase());
}

/** Fixed/pattern values a slice puts on the discriminator path, looking through nested slices too. */
function expectedValues(node: PNode, segments: string[]): unknown[] {
  if (!segments.length) return fixedOrPattern(node.ed);
  const [head, ...rest] = segments;
  const out: unknown[] = [];
  for (const child of node.children) {
    if (child.name !== head && child.name !== `${head}[x]`) continue;
    const own = expectedValues(child, rest);
    out.push(...own);
    for (const s of child.slices) if ((s.ed.min ?? 0) > 0) out.push(...expectedValues(s, rest));
    if (!own.length && rest.length) {
      // a pattern on an ancestor (code = patternCodeableConcept) constrains the discriminator path below it
      for (const p of fixedOrPattern(child.ed)) out.push(...valuesAt(p, rest));
    }
  }
  return out;
}

function fixedOrPattern(ed: ElementDefinition): unknown[] {
  const out: unknown[] = [];
  for (const key in ed) if (key.startsWith('fixed') || key.startsWith('pattern')) out.push((ed as unknown as Record<string, unknown>)[key]);
  return out;
}

function valuesAt(value: unknown, segments: string[]): unknown[] {
  let current = [value];
  for (const seg of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue;
      const child = (v as Record<string, unknown>)[seg];
      if (Array.isArray(child)) next.push(...child);
      else if (child !== undefined) next.push(child);
    }
    current = next;
  }
  return current;
}

/** FHIR pattern semantics: every property of the pattern is present with a matching value; arrays match item by item, in any order. */
export function matchesPattern(actual: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return actual === pattern;
  if (Array.isArray(pattern)) {
    const list = Array.isArray(actual) ? actual : [actual];
    return pattern.every((p) => list.some((a) => matchesPattern(a, p)));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  for (const key in pattern) {
    if (!matchesPattern((actual as Record<string, unknown>)[key], (pattern as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function issue(code: OperationOutcomeIssue['code'], expr: string, diagnostics: string): OperationOutcomeIssue {
  return { severity: 'error', code, expression: [expr], diagnostics };
}

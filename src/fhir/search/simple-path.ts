import type { CompiledTypedPath, TypedValue } from '../fhirpath.js';
import { fhirR4Model } from '../fhirpath.js';

/**
 * Write-time extraction runs ~40 expressions per Observation; fhirpath.js costs
 * 1-70 microseconds each, far over the ~15 microseconds per resource we aim
 * for. Nearly all R4 search expressions are plain navigation (`A.b.c`, unions,
 * `ofType(T)`, `where(reference.startsWith('T/'))`, `where(system='phone')`),
 * which this module runs directly over the JSON, typing nodes with the R4 model
 * of the fhirpath package. Anything else returns undefined at compile time and
 * runs on fhirpath.js; test/unit/search-extract.test.ts checks that both give
 * the same nodes for every parameter on the test corpus.
 */

type Step =
  | { kind: 'member'; name: string }
  | { kind: 'ofType'; type: string }
  | { kind: 'refType'; prefix: string }
  | { kind: 'equals'; name: string; literal: string };

const STEP_RE = /^(?:\.([a-zA-Z][A-Za-z0-9]*)(?![A-Za-z0-9(])|\.ofType\(([A-Za-z]+)\)|\.where\(reference\.startsWith\('([A-Za-z]+\/)'\)\)|\.where\(([a-zA-Z]+) ?= ?'([^'\\]*)'\))/;
const ROOT_RE = /^([A-Z][A-Za-z]+)/;

const PRIMITIVES = new Set(['boolean', 'integer', 'string', 'decimal', 'uri', 'url', 'canonical', 'base64Binary', 'instant', 'date',
  'dateTime', 'time', 'code', 'oid', 'id', 'markdown', 'unsignedInt', 'positiveInt', 'uuid']);

const model = fhirR4Model as unknown as {
  path2Type: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
  type2Parent: Record<string, string>;
};

interface Node {
  value: unknown;
  type: string;
  /** model path used to type children: the type name, or the element path inside a backbone */
  path: string;
}

type Runner = (nodes: Node[]) => Node[];

/** The answer when nothing is selected: shared, so callers must not add to a result. */
const NOTHING: TypedValue[] = Object.freeze([]) as unknown as TypedValue[];

/**
 * Compiles `expression` (evaluated on a resource, or on a part of one whose
 * model path is `base`) when it stays inside the simple subset.
 */
export function compileSimplePath(expression: string, base?: string): CompiledTypedPath | undefined {
  const parts = expression.split('|').map((p) => p.trim());
  const runners: Array<{ runner: Runner; firstKeys: string[] | undefined; rootType: string | undefined; rootPath: string }> = [];
  for (const part of parts) {
    let rest = part;
    let rootPath: string;
    let rootType: string | undefined;
    if (base) {
      rootPath = base;
      rest = `.${part}`;
      if (part === '$this') rest = '';
    } else {
      const m = ROOT_RE.exec(part);
      if (!m) return undefined;
      rootPath = m[1]!;
      rootType = m[1];
      rest = part.slice(m[1]!.length);
    }
    const steps: Step[] = [];
    while (rest.length > 0) {
      const m = STEP_RE.exec(rest);
      if (!m) return undefined;
      if (m[1]) steps.push({ kind: 'member', name: m[1] });
      else if (m[2]) steps.push({ kind: 'ofType', type: m[2] });
      else if (m[3]) steps.push({ kind: 'refType', prefix: m[3] });
      else steps.push({ kind: 'equals', name: m[4]!, literal: m[5]! });
      rest = rest.slice(m[0].length);
    }
    const compiled = compileSteps(rootPath, steps);
    if (!compiled) return undefined;
    runners.push({ runner: compiled.runner, firstKeys: compiled.firstKeys, rootType, rootPath });
  }
  return (resource: object) => {
    let out: TypedValue[] | undefined;
    for (const { runner, firstKeys, rootType, rootPath } of runners) {
      if (rootType && (resource as { resourceType?: string }).resourceType !== rootType) continue;
      // Most of a type's ~40 parameters name elements this resource does not have: stop before any work.
      if (firstKeys && (resource === null || typeof resource !== 'object' || !hasAny(resource as Record<string, unknown>, firstKeys))) continue;
      for (const n of runner([{ value: resource, type: rootType ?? rootPath, path: rootPath }])) {
        (out ??= []).push(n); // nodes are made per evaluation: no copy needed
      }
    }
    return out ?? NOTHING;
  };
}

function hasAny(obj: Record<string, unknown>, keys: string[]): boolean {
  for (const key of keys) if (obj[key] !== undefined) return true;
  return false;
}

/**
 * Resolves each member step's type at compile time; undefined when the model
 * does not know a path. `firstKeys`: the JSON keys the first step reads (a
 * choice element has one per type), when it is a member step.
 */
function compileSteps(rootPath: string, steps: Step[]): { runner: Runner; firstKeys?: string[] } | undefined {
  const fns: Runner[] = [];
  let firstKeys: string[] | undefined;
  let path = rootPath;
  let choice: string[] | undefined;
  for (let si = 0; si < steps.length; si++) {
    const step = steps[si]!;
    if (step.kind === 'member') {
      const full = normalize(`${path}.${step.name}`);
      const choices = lookup(full, model.choiceTypePaths);
      if (choices) {
        const name = step.name;
        let options = choices.map((t) => {
          const type = PRIMITIVES.has(lowerFirst(t)) ? lowerFirst(t) : t;
          return { key: name + t, type };
        });
        // `value.ofType(Quantity)`: read `valueQuantity` alone rather than every choice.
        const following = steps[si + 1];
        if (following?.kind === 'ofType') {
          const wanted = following.type.toLowerCase();
          options = options.filter((o) => o.type.toLowerCase() === wanted);
          if (options.length === 0) return undefined;
        }
        fns.push((nodes) => {
          const out: Node[] = [];
          for (const n of nodes) {
            const obj = n.value as Record<string, unknown>;
            for (const o of options) {
              const v = obj[o.key];
              if (v !== undefined) pushValues(out, v, o.type, o.type);
            }
          }
          return out;
        });
        choice = options.map((o) => o.type);
        if (si === 0) firstKeys = options.map((o) => o.key);
        path = '';
        continue;
      }
      if (choice) return undefined;
      const declared = lookup(full, model.path2Type);
      if (!declared) return undefined;
      const type = declared === 'System.String' ? 'string' : declared;
      const childPath = type === 'BackboneElement' || type === 'Element' ? full : type;
      const nodeType = type === 'BackboneElement' || type === 'Element' ? type : type;
      const name = step.name;
      if (si === 0) firstKeys = [name];
      fns.push((nodes) => {
        const out: Node[] = [];
        for (const n of nodes) {
          const obj = n.value;
          if (obj === null || typeof obj !== 'object') continue;
          const v = (obj as Record<string, unknown>)[name];
          if (v !== undefined) pushValues(out, v, nodeType, childPath);
        }
        return out;
      });
      path = childPath;
    } else if (step.kind === 'ofType') {
      const wanted = step.type.toLowerCase();
      fns.push((nodes) => nodes.filter((n) => n.type.toLowerCase() === wanted));
      if (choice) {
        const hit = choice.find((t) => t.toLowerCase() === wanted);
        if (!hit) return undefined;
        path = hit;
        choice = undefined;
      }
    } else if (step.kind === 'refType') {
      if (choice) return undefined;
      const prefix = step.prefix;
      fns.push((nodes) => nodes.filter((n) => {
        const ref = (n.value as { reference?: unknown }).reference;
        return typeof ref === 'string' && ref.startsWith(prefix);
      }));
    } else {
      if (choice) return undefined;
      const { name, literal } = step;
      fns.push((nodes) => nodes.filter((n) => (n.value as Record<string, unknown>)[name] === literal));
    }
  }
  if (choice && steps.length > 0 && steps[steps.length - 1]!.kind === 'member') {
    // A choice element left untyped (`Observation.value`) is fine: each node carries its own type.
  }
  const runner: Runner = (nodes) => {
    let cur = nodes;
    for (const fn of fns) {
      cur = fn(cur);
      if (cur.length === 0) break;
    }
    return cur;
  };
  return { runner, firstKeys };
}

function pushValues(out: Node[], v: unknown, type: string, path: string): void {
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null && x !== undefined) out.push({ value: x, type, path });
  } else if (v !== null) {
    out.push({ value: v, type, path });
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function normalize(path: string): string {
  return model.pathsDefinedElsewhere[path] ?? path;
}

/** Looks a path up, walking the root type's parents (`Observation.meta` is declared as `Resource.meta`). */
function lookup<T>(path: string, table: Record<string, T>): T | undefined {
  const direct = table[path];
  if (direct !== undefined) return direct;
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  let type = path.slice(0, dot);
  const rest = path.slice(dot);
  for (let i = 0; i < 4; i++) {
    const parent = model.type2Parent[type];
    if (!parent) return undefined;
    const hit = table[parent + rest];
    if (hit !== undefined) return hit;
    type = parent;
  }
  return undefined;
}

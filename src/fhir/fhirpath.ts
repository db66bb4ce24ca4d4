import { createRequire } from 'node:module';
import type * as FhirPathLibrary from 'fhirpath';
import type { Model } from 'fhirpath';

/** A value selected by an expression, with the FHIR data type the R4 model gives it. */
export interface TypedValue {
  /** FHIR type name: 'CodeableConcept', 'dateTime', 'Reference', 'string'... */
  type: string;
  value: unknown;
  /** Model path of the node (`Observation.component`), when it came from the resource. */
  path?: string;
}

export type CompiledPath = (resource: object) => unknown[];
/** `environment` supplies FHIRPath's %variables, such as %resource for composite components. */
export type CompiledTypedPath = (resource: object, environment?: Record<string, unknown>) => TypedValue[];

/*
 * One copy of fhirpath.js for the whole process, its CommonJS build, loaded
 * with require: the package also ships an ES module build, and importing one
 * while another module requires the other would load both (twice the code and
 * twice the R4 model in memory).
 */
const load = createRequire(import.meta.url);

/** The R4 model, for callers that need type information (choice types, paths); resource-types.ts reads it at start. */
export const fhirR4Model = load('fhirpath/fhir-context/r4') as Model;

let library: typeof FhirPathLibrary | undefined;

/**
 * fhirpath.js itself, loaded on the first compile rather than at start-up
 * (about 130 ms): a server that has not yet validated or indexed anything
 * does not need it, and its write worker loads it on its own.
 */
export function fhirPathLibrary(): typeof FhirPathLibrary {
  library ??= load('fhirpath') as typeof FhirPathLibrary;
  return library;
}

const plainCache = new Map<string, CompiledPath>();
const typedCache = new Map<string, CompiledTypedPath>();

/**
 * Compiles once and caches: parsing an expression costs far more than
 * evaluating it, and the same expressions (invariants, search parameters) run
 * on every write.
 */
export function compileFhirPath(expression: string): CompiledPath {
  let fn = plainCache.get(expression);
  if (!fn) {
    const compiled = fhirPathLibrary().compile(expression, fhirR4Model);
    fn = (resource: object) => compiled(resource) as unknown[];
    plainCache.set(expression, fn);
  }
  return fn;
}

/**
 * Like compileFhirPath, but keeps the model's type of each selected node:
 * search extraction needs to know whether `Observation.value` gave a Quantity
 * or a CodeableConcept without guessing from the JSON shape.
 */
export function compileTypedFhirPath(expression: string): CompiledTypedPath {
  let fn = typedCache.get(expression);
  if (!fn) {
    const compiled = fhirPathLibrary().compile(expression, fhirR4Model, { resolveInternalTypes: false });
    fn = (resource: object, environment?: Record<string, unknown>) => toTyped(compiled(resource, environment) as unknown[]);
    typedCache.set(expression, fn);
  }
  return fn;
}

interface NodeLike {
  data?: unknown;
  fhirNodeDataType?: string;
  path?: string;
}

function toTyped(nodes: unknown[]): TypedValue[] {
  const out: TypedValue[] = [];
  for (const n of nodes) {
    if (n !== null && typeof n === 'object' && 'fhirNodeDataType' in n) {
      const node = n as NodeLike;
      if (node.data === undefined || node.data === null) continue;
      out.push({ type: node.fhirNodeDataType ?? node.path ?? 'unknown', value: node.data, path: node.path });
    } else if (n !== null && n !== undefined) {
      // Literals and computed values (FP_Type instances) carry no model type.
      const value = typeof (n as { toJSON?: () => unknown }).toJSON === 'function' ? (n as { toJSON: () => unknown }).toJSON() : n;
      out.push({ type: typeof value === 'string' ? 'string' : typeof value === 'number' ? 'decimal' : typeof value === 'boolean' ? 'boolean' : 'unknown', value });
    }
  }
  return out;
}

/**
 * Compiles an expression that runs on a part of a resource (`code` on an
 * `Observation.component`): the base path lets the model type the results.
 */
export function compileTypedFhirPathAt(base: string, expression: string): CompiledTypedPath {
  const key = `${base}\u0000${expression}`;
  let fn = typedCache.get(key);
  if (!fn) {
    const compiled = fhirPathLibrary().compile({ base, expression }, fhirR4Model, { resolveInternalTypes: false });
    fn = (part: object, environment?: Record<string, unknown>) => toTyped(compiled(part, environment) as unknown[]);
    typedCache.set(key, fn);
  }
  return fn;
}

/** Evaluates once (compiled and cached). */
export function evaluateFhirPath(expression: string, resource: object): unknown[] {
  return compileFhirPath(expression)(resource);
}

import { fhirPathLibrary, fhirR4Model } from '../fhirpath.js';
import type { ConstraintInfo } from './element-model-types.js';
import { isSafeNarrative } from './narrative.js';

export interface CompiledInvariant {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
  /** true holds, false broken, undefined could not be evaluated here (see skippedInvariants). */
  holds(node: unknown, env: InvariantEnv): boolean | undefined;
}

export interface InvariantEnv {
  resource: unknown;
  rootResource: unknown;
}

/**
 * Checked natively by element-rules.ts, because they apply to every element and
 * a FHIRPath evaluation per element would dominate validation time:
 * ele-1 (no empty element), ext-1 (extension: value or extensions, not both),
 * dom-3 (contained resources are referenced) and bdl-7 (unique fullUrl), whose
 * FHIRPath forms are quadratic over large Bundles. Also natively: dom-2, dom-4 and
 * dom-5 (contained-rules.ts), so that the issue names the contained resource at
 * fault rather than its container, and txt-1/txt-2 (narrative-rules.ts), which
 * share one FHIRPath (`htmlChecks()`) and so could not be told apart.
 */
export const NATIVE_INVARIANTS = new Set(['ele-1', 'ext-1', 'dom-2', 'dom-3', 'dom-4', 'dom-5', 'bdl-7', 'txt-1', 'txt-2']);

/** Functions fhirpath.js lacks or cannot run synchronously; invariants using them are skipped, and listed. */
const UNSUPPORTED = /\b(conformsTo|resolve|memberOf|subsumes|subsumedBy|expand|lookup|validateVS|validateCS|translate)\s*\(/;

const userInvocationTable = {
  htmlChecks: {
    fn: (inputs: unknown[]) => inputs.map((i) => isSafeNarrative(String(unwrap(i)))),
    arity: { 0: [] },
  },
};

function unwrap(value: unknown): unknown {
  return value && typeof value === 'object' && 'data' in value ? (value as { data: unknown }).data : value;
}

const compiled = new Map<string, CompiledInvariant | null>();
const skipped = new Map<string, string>();

/** Invariants that were not evaluated, with the reason: key -> reason. */
export function skippedInvariants(): Record<string, string> {
  return Object.fromEntries(skipped);
}

/** Compiles once per (base, key); base is the FHIRPath type context ('Observation', 'Observation.referenceRange', 'Quantity'). */
export function compileInvariant(base: string, c: ConstraintInfo): CompiledInvariant | null {
  const cacheKey = `${base}\u0000${c.key}\u0000${c.expression}`;
  if (compiled.has(cacheKey)) return compiled.get(cacheKey) ?? null;
  let result: CompiledInvariant | null = null;
  if (UNSUPPORTED.test(c.expression)) {
    skipped.set(c.key, 'uses a function that needs other resources or a terminology server');
  } else {
    try {
      // fhirpath.js loads on the first invariant compiled, not at server start (fhirpath.ts).
      const fn = fhirPathLibrary().compile({ base, expression: c.expression }, fhirR4Model, { userInvocationTable, traceFn: () => undefined });
      result = {
        key: c.key, severity: c.severity, human: c.human, expression: c.expression,
        holds(node, env) {
          try {
            const out = fn(node, env as unknown as Record<string, unknown>);
            // An empty result is not a failure: the constraint did not apply.
            return out.length === 0 ? true : out.every((v) => unwrap(v) === true);
          } catch (err) {
            skipped.set(c.key, `evaluation failed: ${(err as Error).message.slice(0, 160)}`);
            return undefined;
          }
        },
      };
    } catch (err) {
      skipped.set(c.key, `does not compile: ${(err as Error).message.slice(0, 160)}`);
    }
  }
  compiled.set(cacheKey, result);
  return result;
}

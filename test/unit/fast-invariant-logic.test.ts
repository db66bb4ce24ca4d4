import t from 'tap';
import { evaluate } from '../../src/fhir/validation/fast-invariant.js';
import type { Ast } from '../../src/fhir/validation/fast-invariant.js';

type Tri = boolean | undefined;
const VALUES: Tri[] = [true, false, undefined];
const leaf = (v: Tri): Ast => ({ leaf: () => v });

/** FHIRPath's three-valued truth tables (https://hl7.org/fhirpath/#boolean-logic), empty written undefined. */
function or(values: Tri[]): Tri {
  return values.some((v) => v === true) ? true : values.every((v) => v === false) ? false : undefined;
}
function and(values: Tri[]): Tri {
  return values.some((v) => v === false) ? false : values.every((v) => v === true) ? true : undefined;
}
function implies(a: Tri, b: Tri): Tri {
  if (a === true) return b;
  if (a === false) return true;
  return b === true ? true : undefined;
}

t.test('or, and, implies follow the FHIRPath truth tables, for two and three terms', async (t) => {
  for (const a of VALUES) {
    for (const b of VALUES) {
      t.equal(evaluate({ op: 'or', terms: [leaf(a), leaf(b)] }, {}), or([a, b]), `${a} or ${b}`);
      t.equal(evaluate({ op: 'and', terms: [leaf(a), leaf(b)] }, {}), and([a, b]), `${a} and ${b}`);
      t.equal(evaluate({ op: 'implies', terms: [leaf(a), leaf(b)] }, {}), implies(a, b), `${a} implies ${b}`);
      for (const c of VALUES) {
        t.equal(evaluate({ op: 'or', terms: [leaf(a), leaf(b), leaf(c)] }, {}), or([a, b, c]), `${a} or ${b} or ${c}`);
        t.equal(evaluate({ op: 'and', terms: [leaf(a), leaf(b), leaf(c)] }, {}), and([a, b, c]), `${a} and ${b} and ${c}`);
      }
    }
  }
});

t.test('nested terms are evaluated on the same node', async (t) => {
  const seen: unknown[] = [];
  const probe = (v: Tri): Ast => ({ leaf: (node) => (seen.push(node), v) });
  const node = { id: 'x' };
  t.equal(evaluate({ op: 'and', terms: [probe(true), { op: 'or', terms: [probe(false), probe(true)] }] }, node), true);
  t.ok(seen.length > 0 && seen.every((n) => n === node));
});

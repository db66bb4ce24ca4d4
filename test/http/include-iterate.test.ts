import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { FHIR_JSON, VISIBILITY, buildSpace, holderBearer } from '../helpers/people.js';
import type { Space } from '../helpers/people.js';

/**
 * `_include:iterate` / `_revinclude:iterate` follow a chain to its end (they
 * stopped after 4 rounds, silently), each resource once, within the access
 * policy; past the most a page includes, the Bundle says it is incomplete.
 */

/** The most resources the includes add to one page (src/store/search-executor.ts INCLUDE_LIMIT). */
const PAGE_INCLUDES = 1000;

type Draft = Record<string, unknown> & { resourceType: string };
interface Node { url: string; resource: Draft }

function observation(subject: string, extra: Record<string, unknown> = {}): Draft {
  return { resourceType: 'Observation', status: 'final', code: { text: 'panel' }, subject: { reference: subject }, ...extra };
}

/** A resource of a transaction, named by a urn:uuid the others may refer to. */
function node(resource: Draft): Node {
  return { url: `urn:uuid:${randomUUID()}`, resource };
}

/** Observations of `patient`, each with the next as its member (the last with the first when `cycle`). */
function hasMemberChain(patient: string, length: number, options: { cycle?: boolean; hidden?: number[] } = {}): Node[] {
  const nodes = Array.from({ length }, (_, i) => node(observation(patient, options.hidden?.includes(i) ? hiddenFromPatient() : {})));
  nodes.forEach((n, i) => {
    const next = i + 1 < length ? nodes[i + 1] : options.cycle ? nodes[0] : undefined;
    if (next) n.resource.hasMember = [{ reference: next.url }];
  });
  return nodes;
}

/** A fresh INVISIBLE_PATIENT label: what a professional hides from the patient for a month. */
function hiddenFromPatient(): Record<string, unknown> {
  return { meta: { security: [{ system: VISIBILITY, code: 'INVISIBLE_PATIENT' }] } };
}

/** Creates `nodes` in one transaction as the system client; their references, in order. */
async function create(space: Space, nodes: Node[]): Promise<string[]> {
  const res = await space.app.inject({
    method: 'POST', url: '/fhir', headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON },
    payload: { resourceType: 'Bundle', type: 'transaction', entry: nodes.map((n) => ({ fullUrl: n.url, resource: n.resource, request: { method: 'POST', url: n.resource.resourceType } })) },
  });
  if (res.statusCode !== 200) throw new Error(`transaction: ${res.statusCode} ${res.body.slice(0, 500)}`);
  return (res.json() as Bundle).entry!.map((e) => e.response!.location!.split('/').slice(0, 2).join('/'));
}

interface Page { matches: string[]; included: string[]; outcomes: OperationOutcome[] }

async function search(space: Space, authorization: string, query: string): Promise<Page> {
  const res = await space.app.inject({ url: `/fhir/${query}`, headers: { authorization } });
  if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  const entries = (res.json() as Bundle).entry ?? [];
  const refs = (mode: string) => entries.filter((e) => e.search?.mode === mode).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
  return { matches: refs('match'), included: refs('include'), outcomes: entries.filter((e) => e.search?.mode === 'outcome').map((e) => e.resource as OperationOutcome) };
}

const idOf = (reference: string) => reference.split('/')[1]!;
const sorted = (refs: string[]) => [...refs].sort();

t.test('a chain longer than 4 links is followed to its end', async (t) => {
  const space = await buildSpace(t);
  const system = await space.systemAuth();
  const chain = await create(space, hasMemberChain(space.alice, 7));
  const [root, ...members] = chain;

  const iterated = await search(space, system, `Observation?_id=${idOf(root!)}&_include:iterate=Observation:has-member`);
  t.same(iterated.matches, [root], 'the root matches');
  t.same(sorted(iterated.included), sorted(members), 'all 6 levels below the match');
  t.same(iterated.outcomes, [], 'and nothing to warn about');

  const plain = await search(space, system, `Observation?_id=${idOf(root!)}&_include=Observation:has-member`);
  t.same(plain.included, [members[0]], 'a plain _include adds one level only');

  const upwards = await search(space, system, `Observation?_id=${idOf(members[5]!)}&_revinclude:iterate=Observation:has-member`);
  t.same(sorted(upwards.included), sorted(chain.slice(0, 6)), '_revinclude:iterate walks up the whole chain');
  const plainUp = await search(space, system, `Observation?_id=${idOf(members[5]!)}&_revinclude=Observation:has-member`);
  t.same(plainUp.included, [members[4]], 'a plain _revinclude one level');

  // An organisation hierarchy (reference data, in no patient's space): o0 <- o1 <- ... <- o6.
  const orgs = Array.from({ length: 7 }, (_, i) => node({ resourceType: 'Organization', name: `Level ${i}` }));
  orgs.forEach((o, i) => {
    if (i > 0) o.resource.partOf = { reference: orgs[i - 1]!.url };
  });
  const hierarchy = await create(space, orgs);
  const top = await search(space, system, `Organization?_id=${idOf(hierarchy[6]!)}&_include:iterate=Organization:partof`);
  t.same(sorted(top.included), sorted(hierarchy.slice(0, 6)), '_include:iterate=Organization:partof reaches the top');
  const below = await search(space, system, `Organization?_id=${idOf(hierarchy[0]!)}&_revinclude:iterate=Organization:partof`);
  t.same(sorted(below.included), sorted(hierarchy.slice(1)), '_revinclude:iterate=Organization:partof reaches every level below');
});

t.test('a cycle ends, each resource included once', async (t) => {
  const space = await buildSpace(t);
  const system = await space.systemAuth();
  const ring = await create(space, hasMemberChain(space.alice, 8, { cycle: true }));
  const [first, ...others] = ring;
  for (const query of [
    '_include:iterate=Observation:has-member',
    '_revinclude:iterate=Observation:has-member',
    '_include:iterate=Observation:has-member&_revinclude:iterate=Observation:has-member',
  ]) {
    const page = await search(space, system, `Observation?_id=${idOf(first!)}&${query}`);
    t.same(page.matches, [first], query);
    t.same(sorted(page.included), sorted(others), `${query}: the 7 others, each once, the match not again`);
    t.same(page.outcomes, [], `${query}: complete`);
  }
  // Wildcards go everywhere references lead (alice, her doctor, their Consents, the trail of accesses...).
  const everything = await search(space, system, `Observation?_id=${idOf(first!)}&_include:iterate=*&_revinclude:iterate=*`);
  t.equal(new Set(everything.included).size, everything.included.length, 'wildcards: each resource once');
  t.ok(others.every((r) => everything.included.includes(r)) && !everything.included.includes(first!), 'wildcards: the 7 others, the match not again');
  t.ok(everything.included.includes(space.alice), 'wildcards: and beyond the ring');
});

t.test('a resource hidden from the caller is not included, nor what only it leads to', async (t) => {
  const space = await buildSpace(t);
  const system = await space.systemAuth();
  const alice = await holderBearer(space.app, space.users.alice);
  // c0 -> c1 -> ... -> c8, c6 hidden from the patient (a professional's label, less than a month old).
  const chain = await create(space, hasMemberChain(space.alice, 9, { hidden: [6] }));
  const read = await space.app.inject({ url: `/fhir/${chain[6]}`, headers: { authorization: alice } });
  t.not(read.statusCode, 200, 'alice may not read c6');

  const query = `Observation?_id=${idOf(chain[0]!)}&_include:iterate=Observation:has-member`;
  const hers = await search(space, alice, query);
  t.same(sorted(hers.included), sorted(chain.slice(1, 6)), 'alice gets c1 to c5: not c6, nor c7 and c8 reached through it');
  t.same(hers.outcomes, [], 'and no warning that would hint at more');
  const whole = await search(space, system, query);
  t.same(sorted(whole.included), sorted(chain.slice(1)), 'a client allowed everything gets c1 to c8');

  const up = await search(space, alice, `Observation?_id=${idOf(chain[8]!)}&_revinclude:iterate=Observation:has-member`);
  t.same(up.included, [chain[7]], 'walking up, alice stops below c6');
});

t.test('includes stop at the most a page holds, and the Bundle says so', async (t) => {
  const space = await buildSpace(t);
  const system = await space.systemAuth();
  const alice = await holderBearer(space.app, space.users.alice);
  // root -> 20 panels -> 49 members each: exactly PAGE_INCLUDES resources alice may see below root.
  // Besides, hidden from her: a 21st panel with a member of its own, and a 50th member of the first panel.
  const root = node(observation(space.alice));
  const panels = Array.from({ length: 20 }, () => node(observation(space.alice)));
  const members = panels.map(() => Array.from({ length: 49 }, () => node(observation(space.alice))));
  const hiddenPanel = node(observation(space.alice, hiddenFromPatient()));
  const hiddenMembers = [node(observation(space.alice)), node(observation(space.alice, hiddenFromPatient()))];
  root.resource.hasMember = [...panels, hiddenPanel].map((p) => ({ reference: p.url }));
  panels.forEach((p, i) => {
    p.resource.hasMember = [...members[i]!, ...(i === 0 ? [hiddenMembers[1]!] : [])].map((m) => ({ reference: m.url }));
  });
  hiddenPanel.resource.hasMember = [{ reference: hiddenMembers[0]!.url }];
  const all = [root, ...panels, ...members.flat(), hiddenPanel, ...hiddenMembers];
  const refs = await create(space, all);
  const refOf = new Map(all.map((n, i) => [n.url, refs[i]!]));
  const hidden = [hiddenPanel, hiddenMembers[1]!].map((n) => refOf.get(n.url)!);
  const visibleBelowRoot = [...panels, ...members.flat()].map((n) => refOf.get(n.url)!);
  t.equal(visibleBelowRoot.length, PAGE_INCLUDES, 'set-up: alice may see exactly as many as a page includes');

  const query = `Observation?_id=${idOf(refOf.get(root.url)!)}&_include:iterate=Observation:has-member`;
  const whole = await search(space, system, query);
  t.equal(whole.included.length, PAGE_INCLUDES, `${PAGE_INCLUDES + 3} to include: ${PAGE_INCLUDES} are`);
  t.equal(new Set(whole.included).size, PAGE_INCLUDES, 'each once');
  t.equal(whole.outcomes.length, 1, 'with an OperationOutcome entry');
  t.match(whole.outcomes[0]?.issue, [{ severity: 'warning', code: 'incomplete', diagnostics: new RegExp(`\\b${PAGE_INCLUDES}\\b`) }], 'a warning naming the bound');

  const hers = await search(space, alice, query);
  t.same(sorted(hers.included), sorted(visibleBelowRoot), `alice gets the ${PAGE_INCLUDES} she may see`);
  t.notOk(hers.included.some((r) => hidden.includes(r)), 'none hidden from her');
  t.same(hers.outcomes, [], 'and no warning: what she may not see takes no room and is not counted');

  const revinclude = await search(space, system, `Patient?_id=${idOf(space.alice)}&_revinclude=Observation:subject`);
  t.equal(revinclude.included.length, PAGE_INCLUDES, `a plain _revinclude stops at ${PAGE_INCLUDES} too`);
  t.match(revinclude.outcomes, [{ issue: [{ severity: 'warning', code: 'incomplete' }] }], 'and says so');

  const unknown = await search(space, system, `${query}&_count=1&not-a-parameter=1`);
  t.match(unknown.outcomes, [{ issue: [{ code: 'not-supported', expression: ['not-a-parameter'] }, { code: 'incomplete' }] }], 'one OperationOutcome entry carries both warnings');
});

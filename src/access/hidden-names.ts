import type { FastifyRequest } from 'fastify';
import type { ParsedValue, SearchClause, SearchRequest } from '../fhir/search/request.js';
import type { SearchRestriction } from '../store/repository.js';
import { principalOf, searchRestriction } from './guard.js';
import { HIDDEN_REFERENCE_NAMES, mayReadNamed } from './hidden-references.js';

/** A reference no index holds (`#` is not allowed in an id): the value that matches nothing. */
const NOTHING: ParsedValue = Object.freeze({ kind: 'reference', ref: 'DocumentReference/#hidden' }) as ParsedValue;

/**
 * A List's items and an AuditEvent's entities reach their reader without what
 * they may not read (hidden-references.ts); a search on them must not tell it
 * either. A value naming a stored resource hidden from the caller matches
 * nothing, as if it were not named: `List?item=DocumentReference/<masked>`
 * found the List (so the masked document existed), `_has:List:subject:item=`
 * the patient, and `AuditEvent?entity=` counted accesses to a document hidden
 * from the patient. Values naming nothing stored are kept (they disclose nothing). The parsed
 * request is changed in place; its links keep the criteria as written.
 */
export async function hideHiddenNames(request: FastifyRequest, parsed: SearchRequest): Promise<void> {
  if (principalOf(request).kind === 'system' || !mentionsNames(parsed.clauses, parsed.types)) return;
  for (const clause of parsed.clauses) await hideIn(request, clause, parsed.types);
}

/**
 * The caller's search restriction, for a search and for a conditional
 * interaction (If-None-Exist, a conditional update or delete, a Bundle's
 * conditional entries and references) alike: only what they may see matches
 * (guard.ts searchRestriction), and a value of their criteria naming a hidden
 * resource matches nothing (hideHiddenNames). Otherwise `If-None-Exist:
 * List?item=<masked document>` answering 200 (the List found) instead of 201
 * would tell that the masked document exists. `reviseQuery` must run on each
 * parsed query before it runs: it also loads what the restriction of its
 * types needs (a person's own Subscriptions); without it those match nothing.
 */
export async function conditionalRestriction(request: FastifyRequest): Promise<SearchRestriction & Required<Pick<SearchRestriction, 'reviseQuery'>>> {
  const restriction = await searchRestriction(request);
  return Object.assign((type: string) => restriction(type), {
    async reviseQuery(parsed: SearchRequest): Promise<void> {
      await restriction.prepare(parsed.types);
      await hideHiddenNames(request, parsed);
    },
  });
}

async function hideIn(request: FastifyRequest, clause: SearchClause, types: string[]): Promise<void> {
  if (clause.kind === 'has') return hideIn(request, clause.next, [clause.type]);
  if (clause.kind === 'chain') return hideIn(request, clause.next, clause.targets);
  if (clause.kind !== 'param' || !namesHidden(types, clause.code)) return;
  for (const [i, value] of clause.values.entries()) {
    if (value.kind !== 'reference') continue;
    const named = value.ref ?? (value.id !== undefined ? await storedById(request, value.id) : undefined);
    if (named && !(await mayReadNamed(request, named))) clause.values[i] = NOTHING;
  }
}

/** `item=<id>` names any type: the stored resource with that id, if one hidden from the caller has it. */
async function storedById(request: FastifyRequest, id: string): Promise<string | undefined> {
  const found = await request.server.engine.find({ types: [], filter: { id }, sort: [], limit: 20 });
  for (const record of found) {
    const reference = `${record.type}/${record.id}`;
    if (!(await mayReadNamed(request, reference))) return reference;
  }
  return undefined;
}

function mentionsNames(clauses: SearchClause[], types: string[]): boolean {
  return clauses.some((c) => c.kind === 'has' ? mentionsNames([c.next], [c.type])
    : c.kind === 'chain' ? mentionsNames([c.next], c.targets)
      : c.kind === 'param' && namesHidden(types, c.code));
}

/** Whether `code` searches, on one of `types`, the references reading may leave out. */
function namesHidden(types: string[], code: string): boolean {
  return types.some((t) => HIDDEN_REFERENCE_NAMES.get(t) === code);
}

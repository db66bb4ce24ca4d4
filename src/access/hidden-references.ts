import type { FastifyRequest } from 'fastify';
import type { AuditEvent, Binary, List } from '@medplum/fhirtypes';
import { ForbiddenError } from '../errors.js';
import { parseLocalReference } from '../fhir/references.js';
import { isResourceType } from '../fhir/resource-types.js';
import { tagAsSubsetted } from '../fhir/summary.js';
import type { StoreEngine, VersionRecord } from '../store/engine.js';
import { isReadable, principalOf } from './guard.js';

/**
 * Per type, what names the references withoutHiddenReferences may leave out:
 * both the JSON property that holds them (List.entry.item, AuditEvent.entity)
 * and the search parameter over them, which FHIR gives the same name. A search
 * on that parameter must not tell what reading leaves out (hidden-names.ts).
 */
export const HIDDEN_REFERENCE_NAMES: ReadonlyMap<string, string> = new Map([['List', 'item'], ['AuditEvent', 'entity']]);

/**
 * Some resources name others by id, and what they name may be hidden from
 * their reader:
 * - a List (an MHD SubmissionSet or Folder) its items: a document the patient
 *   masked from professionals, one not yet visible to the patient;
 * - an AuditEvent the resources an access concerned: the patient's trail ("who
 *   looked at my space") tells who and when, not the id of a document hidden
 *   from her, nor of another patient's resource she tried to read.
 * Such a reference is left out of what the reader receives, which is then
 * tagged SUBSETTED, so that it does not tell them the hidden resource exists.
 * References to what is not stored here (absent, deleted, elsewhere) are kept:
 * they disclose nothing. Returns `record` itself when nothing is left out
 * (`hidesReferences` relies on it).
 */
export async function withoutHiddenReferences(
  record: VersionRecord, engine: StoreEngine, fhirBase: string, mayRead: (item: VersionRecord) => Promise<boolean>,
): Promise<VersionRecord> {
  if (!mayHideReferences(record)) return record;
  const shown = async <T>(elements: T[] | undefined, referenceOf: (element: T) => string | undefined): Promise<T[]> => {
    const out: T[] = [];
    for (const element of elements ?? []) {
      const target = await storedItem(engine, referenceOf(element), fhirBase);
      if (!target || (await mayRead(target))) out.push(element);
    }
    return out;
  };
  if (record.type === 'List') {
    const list = JSON.parse(record.json) as List;
    const entries = await shown(list.entry, (e) => e.item?.reference);
    if (entries.length === (list.entry ?? []).length) return record;
    const { entry: _all, ...rest } = list;
    return { ...record, json: JSON.stringify(tagAsSubsetted(entries.length ? { ...rest, entry: entries } : rest)) };
  }
  const event = JSON.parse(record.json) as AuditEvent;
  const entities = await shown(event.entity, (e) => e.what?.reference);
  if (entities.length === (event.entity ?? []).length) return record;
  // outcomeDesc goes with them: it is the reason of the decision about the whole access, which may
  // be another patient's (a professional she blocked, for a resource they share) and tell of it.
  const { entity: _all, outcomeDesc: _why, ...rest } = event;
  return { ...record, json: JSON.stringify(tagAsSubsetted(entities.length ? { ...rest, entity: entities } : rest)) };
}

/** `withoutHiddenReferences` for the caller of `request` (system clients read them as stored). */
export async function disclosed(request: FastifyRequest, record: VersionRecord): Promise<VersionRecord> {
  if (!mayHideReferences(record) || principalOf(request).kind === 'system') return record;
  return withoutHiddenReferences(record, request.server.engine, request.server.config.fhirBase, (item) => isReadable(request, item));
}

/** `disclosed` for each record of a search or history page. */
export async function disclosedAll(request: FastifyRequest, records: VersionRecord[]): Promise<VersionRecord[]> {
  if (!records.some(mayHideReferences)) return records;
  const out: VersionRecord[] = [];
  for (const record of records) out.push(await disclosed(request, record));
  return out;
}

/**
 * A change to a version that names what its author may not read would change
 * what they cannot see: a PUT of the List as they read it drops the hidden
 * items, a PATCH `test` on them answers whether they are there, and a
 * DELETE removes them with the rest. For anyone but a system client, a PUT,
 * PATCH or DELETE of such a version is refused,
 * before anything is applied, as a 403 naming the rule (and audited as the
 * policy's refusals are): only someone who reads all of it may change it. Not
 * a 409: reading again and retrying would meet the same answer.
 */
export async function refuseChangeOverHidden(request: FastifyRequest, current: VersionRecord, interaction: 'update' | 'patch' | 'delete'): Promise<void> {
  if (!(await hidesReferences(request, current))) return;
  const rule = 'hidden-items';
  const reason = `this ${current.type} names items you may not read, which this ${interaction} would change too; only someone who may read all of it can change it`;
  request.server.audit.record({
    principal: principalOf(request), action: interaction === 'delete' ? 'd' : 'u', interaction, resourceType: current.type, id: current.id, compartments: current.comp,
    allowed: false, rule, reason, requestId: request.id, address: request.ip,
  }, request);
  throw new ForbiddenError(`Access refused (rule ${rule}): ${reason}`, rule);
}

/**
 * Whether the caller of `request` may see `reference` named in a List or an
 * AuditEvent: true when it names nothing stored here (that discloses nothing)
 * or what they may read. What a search on those names may match (hidden-names.ts).
 */
export async function mayReadNamed(request: FastifyRequest, reference: string): Promise<boolean> {
  const item = await storedItem(request.server.engine, reference, request.server.config.fhirBase);
  return !item || isReadable(request, item);
}

/** Whether the caller of `request` would receive `record` with some of its references left out. */
async function hidesReferences(request: FastifyRequest, record: VersionRecord): Promise<boolean> {
  return (await disclosed(request, record)) !== record;
}

function mayHideReferences(record: VersionRecord): boolean {
  const name = HIDDEN_REFERENCE_NAMES.get(record.type);
  // Without the property there is nothing to leave out, and parsing the JSON to learn it costs more.
  return !record.deleted && name !== undefined && record.json.includes(`"${name}"`);
}

/**
 * The current version of a local, live item, whose readability decides; undefined for anything else.
 * A document's bytes (a Binary in no compartment) are as readable as their document, its securityContext.
 */
async function storedItem(engine: StoreEngine, reference: string | undefined, fhirBase: string, depth = 0): Promise<VersionRecord | undefined> {
  const named = reference === undefined ? undefined : parseLocalReference(reference, fhirBase);
  if (!named || !isResourceType(named.type)) return undefined;
  const item = await engine.current(named.type, named.id);
  if (!item || item.deleted) return undefined;
  if (item.type === 'Binary' && !item.comp.length && depth === 0) {
    const context = (JSON.parse(item.json) as Binary).securityContext?.reference;
    return (await storedItem(engine, context, fhirBase, 1)) ?? item;
  }
  return item;
}

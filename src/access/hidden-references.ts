import type { FastifyRequest } from 'fastify';
import type { AuditEvent, Binary, List } from '@medplum/fhirtypes';
import { isResourceType } from '../fhir/resource-types.js';
import { tagAsSubsetted } from '../fhir/summary.js';
import type { StoreEngine, VersionRecord } from '../store/engine.js';
import { isReadable, principalOf } from './guard.js';

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
 * they disclose nothing.
 */
export async function withoutHiddenReferences(
  record: VersionRecord, engine: StoreEngine, fhirBase: string, mayRead: (item: VersionRecord) => Promise<boolean>,
): Promise<VersionRecord> {
  if (!mayHideReferences(record)) return record;
  const base = `${fhirBase}/`;
  const shown = async <T>(elements: T[] | undefined, referenceOf: (element: T) => string | undefined): Promise<T[]> => {
    const out: T[] = [];
    for (const element of elements ?? []) {
      const target = await storedItem(engine, referenceOf(element), base);
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
  const { entity: _all, ...rest } = event;
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

function mayHideReferences(record: VersionRecord): boolean {
  if (record.deleted) return false;
  return (record.type === 'List' && record.json.includes('"item"')) || (record.type === 'AuditEvent' && record.json.includes('"entity"'));
}

/**
 * The current version of a local, live item, whose readability decides; undefined for anything else.
 * A document's bytes (a Binary in no compartment) are as readable as their document, its securityContext.
 */
async function storedItem(engine: StoreEngine, reference: string | undefined, base: string, depth = 0): Promise<VersionRecord | undefined> {
  const local = reference?.startsWith(base) ? reference.slice(base.length) : reference;
  const match = local && /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(local);
  if (!match || !isResourceType(match[1]!)) return undefined;
  const item = await engine.current(match[1]!, match[2]!);
  if (!item || item.deleted) return undefined;
  if (item.type === 'Binary' && !item.comp.length && depth === 0) {
    const context = (JSON.parse(item.json) as Binary).securityContext?.reference;
    return (await storedItem(engine, context, base, 1)) ?? item;
  }
  return item;
}

import type { FastifyRequest } from 'fastify';
import type { List } from '@medplum/fhirtypes';
import { isResourceType } from '../fhir/resource-types.js';
import { tagAsSubsetted } from '../fhir/summary.js';
import type { StoreEngine, VersionRecord } from '../store/engine.js';
import { isReadable, principalOf } from './guard.js';

/**
 * A List names its items by id: an MHD SubmissionSet or Folder lists the
 * documents filed together. An item the reader may not read (a document the
 * patient masked from professionals, one not yet visible to the patient) is
 * left out of the List they receive, which is then tagged SUBSETTED, so that
 * the List does not tell them the hidden item exists. Items that are not
 * stored here (absent, deleted, elsewhere) are kept: they disclose nothing.
 */
export async function listWithoutHiddenItems(
  record: VersionRecord, engine: StoreEngine, fhirBase: string, mayRead: (item: VersionRecord) => Promise<boolean>,
): Promise<VersionRecord> {
  if (!mayHideItems(record)) return record;
  const list = JSON.parse(record.json) as List;
  const base = `${fhirBase}/`;
  const entries = [];
  for (const entry of list.entry ?? []) {
    const item = await storedItem(engine, entry.item?.reference, base);
    if (!item || (await mayRead(item))) entries.push(entry);
  }
  if (entries.length === (list.entry ?? []).length) return record;
  const { entry: _all, ...rest } = list;
  const shown = tagAsSubsetted(entries.length ? { ...rest, entry: entries } : rest);
  return { ...record, json: JSON.stringify(shown) };
}

/** `listWithoutHiddenItems` for the caller of `request` (system clients read Lists as stored). */
export async function disclosedList(request: FastifyRequest, record: VersionRecord): Promise<VersionRecord> {
  if (!mayHideItems(record) || principalOf(request).kind === 'system') return record;
  return listWithoutHiddenItems(record, request.server.engine, request.server.config.fhirBase, (item) => isReadable(request, item));
}

/** `disclosedList` for each record of a search or history page. */
export async function disclosedLists(request: FastifyRequest, records: VersionRecord[]): Promise<VersionRecord[]> {
  if (!records.some(mayHideItems)) return records;
  const out: VersionRecord[] = [];
  for (const record of records) out.push(await disclosedList(request, record));
  return out;
}

function mayHideItems(record: VersionRecord): boolean {
  return record.type === 'List' && !record.deleted && record.json.includes('"item"');
}

/** The current version of a local, live item; undefined for anything else. */
async function storedItem(engine: StoreEngine, reference: string | undefined, base: string): Promise<VersionRecord | undefined> {
  const local = reference?.startsWith(base) ? reference.slice(base.length) : reference;
  const match = local && /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(local);
  if (!match || !isResourceType(match[1]!)) return undefined;
  const item = await engine.current(match[1]!, match[2]!);
  return item && !item.deleted ? item : undefined;
}

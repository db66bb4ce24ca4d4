import type { Binary, BundleLink } from '@medplum/fhirtypes';
import type { VersionRecord } from '../store/engine.js';
import { tagAsSubsetted } from './summary.js';

/**
 * Builds Bundle JSON as text around the stored resource texts, so searches and
 * histories never parse and re-serialise the resources they return.
 */
export interface EntryText {
  fullUrl: string;
  /** Resource JSON text, or undefined (deleted versions in a history). */
  resource?: string;
  search?: { mode: 'match' | 'include' | 'outcome' };
  request?: { method: string; url: string };
  response?: { status: string; etag?: string; lastModified?: string; location?: string };
}

export function bundleText(type: 'searchset' | 'history' | 'transaction-response' | 'batch-response', parts: {
  id: string; timestamp: string; total?: number; link?: BundleLink[]; entries: EntryText[];
}): string {
  const head: Record<string, unknown> = { resourceType: 'Bundle', id: parts.id, meta: { lastUpdated: parts.timestamp }, type };
  if (parts.total !== undefined) head.total = parts.total;
  if (parts.link?.length) head.link = parts.link;
  const headText = JSON.stringify(head);
  if (parts.entries.length === 0) return headText;
  // Concatenation, not join: the resource texts are copied once, when the answer is written.
  let text = `${headText.slice(0, -1)},"entry":[`;
  parts.entries.forEach((entry, i) => {
    text += (i ? ',' : '') + entryText(entry);
  });
  return text + ']}';
}

function entryText(entry: EntryText): string {
  let text = '{"fullUrl":' + JSON.stringify(entry.fullUrl);
  if (entry.resource !== undefined) text += ',"resource":' + withBinaryMarked(entry.resource);
  if (entry.search) text += ',"search":' + JSON.stringify(entry.search);
  if (entry.request) text += ',"request":' + JSON.stringify(entry.request);
  if (entry.response) text += ',"response":' + JSON.stringify(entry.response);
  return text + '}';
}

const BINARY_PREFIX = '{"resourceType":"Binary"';

/**
 * A Binary's bytes stay in the blob store: its stored JSON (resourceType
 * first, as every stored or shaped resource) has no `data`, so in a Bundle it
 * is tagged SUBSETTED and a client knows to read the Binary itself for them.
 * Every other resource text is copied as it is.
 */
function withBinaryMarked(resource: string): string {
  if (!resource.startsWith(BINARY_PREFIX)) return resource;
  const binary = JSON.parse(resource) as Binary;
  return binary.data === undefined ? JSON.stringify(tagAsSubsetted(binary)) : resource;
}

/** A history entry for one version (http.html#history). */
export function historyEntry(record: VersionRecord, fhirBase: string): EntryText {
  const url = `${record.type}/${record.id}`;
  const status = record.deleted ? '410 Gone' : record.vid === 1 || record.method === 'POST' ? '201 Created' : '200 OK';
  return {
    fullUrl: `${fhirBase}/${url}`,
    resource: record.deleted ? undefined : record.json,
    request: { method: record.method === 'PATCH' ? 'PATCH' : record.method, url: record.method === 'POST' ? record.type : url },
    response: { status, etag: `W/"${record.vid}"`, lastModified: record.lastUpdated },
  };
}

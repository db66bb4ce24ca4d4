import { Readable } from 'node:stream';
import { httpDateMs, namesVersion, parseEntityTags } from '../fhir/entity-tags.js';
import { headerList } from './header-list.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { negotiateFhirType } from '../fhir/media-types.js';
import { allOk } from '../fhir/outcome.js';
import { applyShaping, parseReadShaping } from '../fhir/summary.js';
import type { Shaping } from '../fhir/summary.js';
import type { StoreEngine, VersionRecord } from '../store/engine.js';
import type { WriteResult } from '../store/repository.js';
import { base64Stream } from './base64-stream.js';

/** What `Prefer` asks for (http.html#ops and search.html#errors). */
export interface Preferences {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
}

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const text = Array.isArray(header) ? header.join(',') : header ?? '';
  const prefs: Preferences = {};
  for (const part of text.split(/[,;]/)) {
    const [name, raw] = part.split('=').map((s) => s?.trim());
    const value = raw?.replace(/^"|"$/g, '');
    if (name === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')) prefs.return = value;
    if (name === 'handling' && (value === 'strict' || value === 'lenient')) prefs.handling = value;
  }
  return prefs;
}

/** The media type this request's answer will have; throws 406 before any work is done. */
export function responseType(request: FastifyRequest): string {
  const format = (request.query as Record<string, unknown> | undefined)?._format;
  return negotiateFhirType(request.headers.accept, typeof format === 'string' ? format : undefined);
}

/**
 * `_summary`/`_elements` of a read or vread (http.html#read); undefined, at
 * the cost of two property lookups, when the query has neither.
 */
export function readShaping(request: FastifyRequest): Shaping | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  if (query?._summary === undefined && query?._elements === undefined) return undefined;
  return parseReadShaping(query._summary, query._elements);
}

/** Whether a read carries a condition at all: most do not, and need not wait for isNotModified. */
export function isConditionalRead(request: FastifyRequest): boolean {
  return request.headers['if-none-match'] !== undefined || request.headers['if-modified-since'] !== undefined;
}

/**
 * A conditional read (http.html#cread): `If-None-Match` (RFC 9110 §13.1.2)
 * is true when it names this version's ETag (weak comparison) or is `*`,
 * which any existing resource matches; otherwise `If-Modified-Since`.
 */
export async function isNotModified(request: FastifyRequest, record: VersionRecord): Promise<boolean> {
  const header = request.headers['if-none-match'];
  // If-Modified-Since counts only without If-None-Match (RFC 9110 §13.2.2).
  if (header === undefined) return unmodifiedSince(request, record);
  // A header that is no list of ETags is ignored: the resource is sent.
  const tags = parseEntityTags(headerList(header)!);
  return tags !== undefined && namesVersion(tags, record.vid);
}

/**
 * `If-Modified-Since`: true when the version was written no later than the
 * date. HTTP dates count whole seconds, and Last-Modified gives the second a
 * version was written in: two versions written within one second carry the
 * same Last-Modified, so a client holding the first, asking with that date,
 * must get the second rather than a 304. When this version was written in the
 * date's very second, the one before it is looked at: written in that second
 * too, the date cannot tell them apart and the answer is the resource. A date
 * that cannot be read is ignored (RFC 9110 §13.1.3).
 */
async function unmodifiedSince(request: FastifyRequest, record: VersionRecord): Promise<boolean> {
  const header = request.headers['if-modified-since'];
  if (header === undefined) return false;
  const since = httpDateMs(header);
  if (since === undefined) return false;
  const second = wholeSecond(record.ts);
  if (second !== since) return second < since;
  return dateSinglesOut(request.server.repository.engine, record);
}

/**
 * Whether this version's Last-Modified names it alone: no earlier version
 * was written in the same second (HTTP dates count whole seconds). Only then
 * is the date a validator for this version's content (If-Modified-Since,
 * If-Range's date form).
 */
export async function dateSinglesOut(engine: StoreEngine, record: VersionRecord): Promise<boolean> {
  if (record.vid === 1) return true;
  const previous = await engine.version(record.type, record.id, record.vid - 1);
  return !previous || wholeSecond(previous.ts) < wholeSecond(record.ts);
}

function wholeSecond(ts: number): number {
  return Math.floor(ts / 1000) * 1000;
}

export function sendNotModified(reply: FastifyReply, record: VersionRecord): FastifyReply {
  return reply.code(304).header('etag', `W/"${record.vid}"`).send();
}

/** HTTP dates by second: formatting one costs more than the rest of a read's headers. */
const httpDates = new Map<number, string>();

export function httpDate(ts: number): string {
  const second = Math.floor(ts / 1000);
  let text = httpDates.get(second);
  if (text === undefined) {
    if (httpDates.size >= 10_000) httpDates.clear();
    httpDates.set(second, (text = new Date(second * 1000).toUTCString()));
  }
  return text;
}

export function versionHeaders(reply: FastifyReply, record: VersionRecord): FastifyReply {
  return reply
    .header('etag', `W/"${record.vid}"`)
    .header('last-modified', httpDate(record.ts));
}

/**
 * Sends a stored version as it was stored: the JSON text, never rebuilt (reads
 * stay cheap). A Binary's bytes live in the blob store and are streamed into
 * the JSON as base64, so a large document is never held whole in memory.
 * Only a read that asks for `_summary`/`_elements` (`shaping`) rebuilds the
 * JSON; the ETag and Last-Modified stay those of the version.
 */
export async function sendRecord(request: FastifyRequest, reply: FastifyReply, engine: StoreEngine, record: VersionRecord, status = 200, shaping?: Shaping): Promise<FastifyReply> {
  const type = responseType(request);
  versionHeaders(reply, record).code(status).type(type);
  if (record.blob) return reply.send(await binaryAsJson(engine, record));
  if (shaping) return reply.send(JSON.stringify(applyShaping(JSON.parse(record.json) as Resource, shaping)));
  return reply.send(record.json);
}

/** Answers a create/update/patch according to `Prefer: return=`. */
export async function sendWriteResult(request: FastifyRequest, reply: FastifyReply, engine: StoreEngine, result: WriteResult, fhirBase: string): Promise<FastifyReply> {
  const { record } = result;
  const status = result.created ? 201 : 200;
  const type = responseType(request);
  reply.header('location', `${fhirBase}/${record.type}/${record.id}/_history/${record.vid}`);
  versionHeaders(reply, record);
  const prefer = parsePrefer(request.headers.prefer);
  if (prefer.return === 'minimal') return reply.code(status).send();
  if (prefer.return === 'OperationOutcome') {
    const issues: OperationOutcomeIssue[] = result.warnings.length ? result.warnings : allOk(writeOutcomeText(result)).issue;
    return reply.code(status).type(type).send({ resourceType: 'OperationOutcome', issue: issues });
  }
  return sendRecord(request, reply, engine, record, status);
}

/** What a write did, as `Prefer: return=OperationOutcome` tells it. */
function writeOutcomeText(result: WriteResult): string {
  const name = `${result.record.type}/${result.record.id}`;
  if (result.created) return `Created ${name}`;
  if (result.unwritten === 'matched') return `${name} matched the condition: nothing was written`;
  if (result.unwritten === 'unchanged') return `${name} is unchanged: no version was written`;
  return `Updated ${name}`;
}

async function binaryAsJson(engine: StoreEngine, record: VersionRecord): Promise<Readable | string> {
  const blob = await engine.blobs.open(record.blob!);
  if (!blob) return record.json;
  // No bytes: no `data` at all, as FHIR JSON has no empty strings (json.html).
  if (blob.info.size === 0) {
    blob.stream.destroy();
    return record.json;
  }
  // Stored Binary JSON never has `data`: splice it in before the closing brace.
  const head = record.json.slice(0, record.json.lastIndexOf('}'));
  return Readable.from(spliceData(head, blob.stream));
}

async function* spliceData(head: string, bytes: Readable): AsyncGenerator<string | Buffer> {
  yield `${head},"data":"`;
  yield* base64Stream(bytes);
  yield '"}';
}

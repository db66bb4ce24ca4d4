import { Readable } from 'node:stream';
import Negotiator from 'negotiator';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Binary } from '@medplum/fhirtypes';
import { BadRequestError, FhirError, NotAcceptableError, PayloadTooLargeError } from '../errors.js';
import { authorize } from '../access/guard.js';
import { conditionalRestriction } from '../access/hidden-names.js';
import { isFhirId } from '../fhir/references.js';
import { parseJsonBody } from '../fhir/json-body.js';
import { assertJsonContentType, withoutParameters } from '../fhir/media-types.js';
import { checkTypeAndId } from '../store/repository.js';
import type { WriteResult } from '../store/repository.js';
import type { VersionRecord } from '../store/engine.js';
import { mayHaveLanded } from '../store/engine.js';
import { headerText, writeCheck } from './resource.js';
import { checkWritePreconditions } from './write-preconditions.js';
import { headerList } from './header-list.js';
import { dateSinglesOut, httpDate, isConditionalRead, isNotModified, responseType, sendNotModified, sendRecord, sendWriteResult, versionHeaders } from './respond.js';
import { writeInTurn } from '../store/resource-turns.js';
import { readTellingDeletion } from './deleted-reads.js';
import { isBase64Binary } from '../fhir/validation/base64.js';
import { underContentRules } from '../space/documents/document-content.js';
import { authorizeBinary } from '../space/documents/binary-access.js';
import { contentRange, ifRangeMatches, parseIfRange, parseRange, resolveRange } from './byte-range.js';
import type { IfRangeValidator, RangeAnswer } from './byte-range.js';

const FHIR_JSON_TYPES = /^application\/(fhir\+)?json\b/i;

/**
 * Binary (https://hl7.org/fhir/R4/binary.html): raw bytes in, raw bytes out,
 * or the Binary resource with base64 `data` when the client asks for FHIR
 * JSON. The bytes go straight from the request stream to the blob store and
 * from the blob store to the response, so a 20 MiB PDF is never held whole.
 * This plugin owns its content-type parsing: every type is accepted here.
 */
export const binaryRoutes: FastifyPluginAsync = async (app) => {
  const { repository, engine, config } = app;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { bodyLimit: config.binaryMaxBytes }, (_request, payload, done) => done(null, payload));

  app.post('/Binary', async (request, reply) => {
    responseType(request);
    await authorize(request, 'c', 'create', { resourceType: 'Binary' }, { precheck: true });
    const { resource, blob } = await receiveBinary(request);
    const ifNoneExist = headerText(request.headers['if-none-exist']);
    if (ifNoneExist !== undefined) await authorize(request, 's', 'search-type', { resourceType: 'Binary' }, { precheck: true });
    // Only what the caller may see can match; the match is answered as a read of it.
    const restrict = ifNoneExist !== undefined ? await conditionalRestriction(request) : undefined;
    const result = await dropBlobUnlessStored(blob, () =>
      repository.create(resource, { blob, ifNoneExist, check: writeCheck(request, 'c', 'create'), restrict }));
    if (!result.created) await authorizeBinary(request, 'r', 'read', result.record);
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  app.put<{ Params: { id: string } }>('/Binary/:id', async (request, reply) => {
    const { id } = request.params;
    responseType(request);
    checkTypeAndId('Binary', id);
    await authorize(request, 'u', 'update', { resourceType: 'Binary', id }, { precheck: true });
    const current = await engine.current('Binary', id);
    // As for any update: the policy on the version being replaced, then (check) on the new one.
    if (current && !current.deleted) await authorizeBinary(request, 'u', 'update', current);
    const { resource, blob } = await receiveBinary(request, id);
    const ifMatch = headerText(request.headers['if-match']);
    // The bytes of a document that is not deleted keep their content (space/documents/document-content.ts).
    const result = await dropBlobUnlessStored(blob, () => underContentRules(request, (content) => writeInTurn(repository.turns, 'Binary', id, ifMatch, async () => {
      // Another write landed while the bytes arrived (or since a conflicting attempt): the policy on that version.
      const now = await engine.current('Binary', id);
      if (now && !now.deleted && now.vid !== current?.vid) await authorizeBinary(request, 'u', 'update', now);
      checkWritePreconditions(request, now);
      const check = !now || now.deleted ? writeCheck(request, 'c', 'create') : writeCheck(request, 'u', 'update');
      return repository.update('Binary', id, resource, { blob, ifMatch, check: content(check) });
    })));
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  /**
   * Runs the write of a Binary whose bytes are in `blob`: a refused write (or
   * a conditional create that found an existing Binary) leaves no bytes behind.
   */
  async function dropBlobUnlessStored(blob: string, write: () => Promise<WriteResult>): Promise<WriteResult> {
    let result: WriteResult;
    try {
      result = await write();
    } catch (err) {
      if (!mayHaveLanded(err)) await engine.blobs.delete(blob);
      throw err;
    }
    if (result.record.blob !== blob) await engine.blobs.delete(blob);
    return result;
  }

  app.get<{ Params: { id: string } }>('/Binary/:id', async (request, reply) => {
    const { id } = request.params;
    checkTypeAndId('Binary', id);
    await authorize(request, 'r', 'read', { resourceType: 'Binary', id }, { precheck: true });
    const record = await readTellingDeletion(request, () => repository.read('Binary', id), (lastLive) => authorizeBinary(request, 'r', 'read', lastLive, { audit: false }));
    await authorizeBinary(request, 'r', 'read', record);
    return sendBinary(request, reply, record);
  });

  app.get<{ Params: { id: string; vid: string } }>('/Binary/:id/_history/:vid', async (request, reply) => {
    const { id, vid } = request.params;
    checkTypeAndId('Binary', id);
    await authorize(request, 'r', 'vread', { resourceType: 'Binary', id }, { precheck: true });
    const record = await readTellingDeletion(request, () => repository.vread('Binary', id, vid), (lastLive) => authorizeBinary(request, 'r', 'vread', lastLive, { audit: false }));
    await authorizeBinary(request, 'r', 'vread', record);
    return sendBinary(request, reply, record);
  });

  /**
   * Raw bytes or the Binary resource (http.html#binary, ITI-68), whichever
   * the request prefers (chooseBinaryForm); 406 when Accept allows neither.
   * 304 when If-None-Match matches, once the format is known to be
   * acceptable (both forms share the version's ETag). The raw bytes take a
   * single byte range (`Accept-Ranges: bytes`): 206 with only those bytes,
   * 416 (an OperationOutcome, `Content-Range: bytes *\/size`) when the range
   * starts beyond the last byte; the FHIR JSON form ignores Range.
   */
  async function sendBinary(request: FastifyRequest, reply: FastifyReply, record: VersionRecord): Promise<FastifyReply> {
    const format = (request.query as Record<string, unknown>)._format;
    const accept = request.headers.accept;
    const contentType = (JSON.parse(record.json) as Binary).contentType;
    const form = format !== undefined ? 'resource' : chooseBinaryForm(accept, contentType);
    if (form === undefined) throw new NotAcceptableError(`This Binary is ${contentType}; Accept ${String(accept).slice(0, 120)} allows neither it nor FHIR JSON`);
    const wantsJson = form === 'resource';
    if (wantsJson) responseType(request); // an unknown _format is a 406 before any 304
    if (isConditionalRead(request) && await isNotModified(request, record)) return sendNotModified(reply, record);
    if (wantsJson) return sendRecord(request, reply, engine, record);
    const blob = record.blob ? await engine.blobs.open(record.blob) : undefined;
    const size = blob?.info.size ?? 0;
    // Most reads ask for no range: they make no promise for it.
    const range = request.headers.range === undefined ? 'whole' : await requestedRange(request, record, size);
    if (range === 'unsatisfiable') {
      blob?.stream.destroy();
      throw new FhirError('FHIR_ERR_HTTP_RANGE_NOT_SATISFIABLE', 416, 'processing', `Binary/${record.id} has ${size} bytes: the Range asks for none of them`, {
        headers: { 'content-range': contentRange(size), 'accept-ranges': 'bytes' },
      });
    }
    versionHeaders(reply, record)
      .header('content-type', contentType)
      .header('accept-ranges', 'bytes')
      .header('x-content-type-options', 'nosniff')
      // Stored bytes come from clients: never let a browser run them in our origin.
      .header('content-security-policy', "sandbox; default-src 'none'");
    if (!blob) return reply.header('content-length', '0').send('');
    if (range === 'whole') return reply.header('content-length', String(size)).send(blob.stream);
    // The whole blob's stream gave its size; the range is read from its own start.
    blob.stream.destroy();
    const bytes = await engine.blobs.openRange(record.blob!, range.start, range.end);
    // Gone since it was opened (its Binary version deleted meanwhile): what a read now finds.
    if (!bytes) throw new FhirError('FHIR_ERR_STORE_GONE', 410, 'deleted', `Binary/${record.id}'s bytes are no longer stored`);
    return reply.code(206)
      .header('content-range', contentRange(size, range))
      .header('content-length', String(range.end - range.start + 1))
      .send(bytes);
  }

  /**
   * What a raw read sends of `size` bytes (RFC 9110 §14): the range `Range`
   * asks for, on a GET only (HEAD and the rest ignore it, §14.2), unless
   * `If-Range` names another representation (then the whole body, §13.1.5).
   * Evaluated after If-None-Match/If-Modified-Since (§13.2.2): a 304 wins.
   * Several ranges, another unit or a malformed header: the whole body.
   */
  async function requestedRange(request: FastifyRequest, record: VersionRecord, size: number): Promise<RangeAnswer> {
    const spec = request.method === 'GET' ? parseRange(request.headers.range) : undefined;
    if (!spec) return 'whole';
    const validator = parseIfRange(headerList(request.headers['if-range']));
    if (validator && !await ifRangeHolds(validator, record)) return 'whole';
    return resolveRange(spec, size);
  }

  /**
   * If-Range against this version: our ETags are weak (`W/"n"`), so an
   * entity-tag never matches (strong comparison); a date matches when it is
   * the version's Last-Modified and that date is a strong validator
   * (§8.8.2.2), i.e. no earlier version was written in the same second (the
   * date would name its bytes as well).
   */
  async function ifRangeHolds(validator: IfRangeValidator, record: VersionRecord): Promise<boolean> {
    if (!ifRangeMatches(validator, { etag: `W/"${record.vid}"`, lastModified: httpDate(record.ts) })) return false;
    return validator.kind !== 'date' || await dateSinglesOut(engine, record);
  }


  /** Streams the body into a new blob: raw bytes, or a Binary resource whose base64 data is decoded. */
  async function receiveBinary(request: FastifyRequest, id?: string): Promise<{ resource: Binary; blob: string }> {
    const contentType = (request.headers['content-type'] ?? 'application/octet-stream').trim();
    const body = request.body as Readable;
    if (FHIR_JSON_TYPES.test(contentType)) {
      assertJsonContentType(contentType);
      const resource = await readJsonBinary(body, config.bodyLimit);
      const { data, ...rest } = resource;
      if (id !== undefined && rest.id !== id) throw new BadRequestError('FHIR_ERR_REST_ID_MISMATCH', `Body id ${String(rest.id)} does not match the URL id ${id}`);
      if (typeof data !== 'undefined' && (typeof data !== 'string' || !isBase64Binary(data))) {
        throw new BadRequestError('FHIR_ERR_REST_BINARY_DATA', 'Binary.data must be base64', { expression: ['Binary.data'] });
      }
      const info = await engine.blobs.put(Readable.from([Buffer.from(data ?? '', 'base64')]), { maxBytes: config.binaryMaxBytes });
      const { id: _clientId, ...withoutId } = rest;
      return { resource: (id === undefined ? withoutId : rest) as Binary, blob: info.key };
    }
    const securityContext = headerText(request.headers['x-security-context']);
    // Dropped silently, the writer would believe the bytes guarded by a context they are not.
    if (securityContext !== undefined && !isHeaderSecurityContext(securityContext)) {
      throw new BadRequestError('FHIR_ERR_REST_SECURITY_CONTEXT', `X-Security-Context must be a reference Type/id to a resource of this server, not ${JSON.stringify(securityContext.slice(0, 80))}`);
    }
    const info = await engine.blobs.put(body, { maxBytes: config.binaryMaxBytes });
    const resource: Binary = { resourceType: 'Binary', ...(id ? { id } : {}), contentType: storedContentType(contentType) };
    if (securityContext !== undefined) resource.securityContext = { reference: securityContext };
    return { resource, blob: info.key };
  }
};

/**
 * Binary.contentType from a raw upload's Content-Type, parameters kept
 * (`text/plain; charset=iso-8859-1`): the charset says how to read the bytes,
 * and the raw GET answers with it. Spaces are made what a FHIR code allows.
 */
function storedContentType(header: string): string {
  const [type = '', ...params] = header.split(';').map((part) => part.trim());
  if (!type) return 'application/octet-stream';
  return [type, ...params.filter(Boolean).map((p) => p.replace(/\s*=\s*/, '='))].join('; ');
}

/** The FHIR JSON forms of a Binary resource, in the order FHIR prefers them. */
const RESOURCE_FORMS = ['application/fhir+json', 'application/json'];

/** Accepts every media type: tells which strings negotiator takes for one. */
const ANY = new Negotiator({ headers: { accept: '*/*' } });

/**
 * What a GET of a Binary answers, by the Accept header as negotiator ranks
 * it: the highest q-value wins (`q=0` excludes), then the most specific
 * range, then the range written first. `raw` (the stored bytes) when the
 * stored type wins, or when it ties with FHIR JSON on all of these (`*\/*`,
 * `application/*`; no Accept at all): ITI-68 retrieves the document.
 * `resource` when a FHIR JSON type wins; undefined when Accept allows
 * neither (406).
 */
function chooseBinaryForm(accept: string | undefined, contentType: string | undefined): 'raw' | 'resource' | undefined {
  if (accept === undefined || accept.trim() === '') return 'raw';
  // A stored type that is no media type (kept as the client sent it) would match no range: it competes as bytes.
  const type = typeof contentType === 'string' ? contentType.split(';')[0]!.trim() : '';
  const stored = type && ANY.mediaTypes([type]).length ? type : 'application/octet-stream';
  const chosen = new Negotiator({ headers: { accept: withoutParameters(accept) } }).mediaType([stored, ...RESOURCE_FORMS.filter((t) => t !== stored)]);
  return chosen === undefined ? undefined : chosen === stored ? 'raw' : 'resource';
}

/**
 * What X-Security-Context is stored from: any letters before the slash, looser
 * than parseRelativeReference (`patient/1` is kept), as it always was. Such a
 * context is kept but places nothing: securityContextOf wants a resource type's shape.
 */
function isHeaderSecurityContext(text: string): boolean {
  const slash = text.indexOf('/');
  return slash > 0 && /^[A-Za-z]+$/.test(text.slice(0, slash)) && isFhirId(text.slice(slash + 1));
}

async function readJsonBinary(stream: Readable, limit: number): Promise<Binary> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new PayloadTooLargeError('Request body is too large');
    chunks.push(chunk as Buffer);
  }
  const parsed = parseJsonBody(Buffer.concat(chunks));
  if (!parsed || typeof parsed !== 'object' || (parsed as Binary).resourceType !== 'Binary') {
    throw new BadRequestError('FHIR_ERR_REST_TYPE_MISMATCH', 'The body must be a Binary resource');
  }
  return parsed as Binary;
}

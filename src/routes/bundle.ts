import type { FastifyPluginAsync } from 'fastify';
import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import { authorize } from '../access/guard.js';
import { conditionalRestriction } from '../access/hidden-names.js';
import { disclosed, refuseChangeOverHidden } from '../access/hidden-references.js';
import { processBundle } from '../store/bundle-processor.js';
import type { SearchRestriction } from '../store/repository.js';
import { parsePrefer, responseType } from './respond.js';
import { writeCheck } from './resource.js';
import { prepareProvideBundle } from '../space/documents/provide-route.js';
import { checkContentWrite, contentTurns } from '../space/documents/document-content.js';
import { checkReplacedSamePatient } from '../space/documents/replacements.js';
import { applyWriteRules } from '../space/documents/document-hook.js';
import { assertStructure } from '../fhir/validation/validate.js';

/**
 * `POST [base]` with a batch or transaction Bundle. The logic lives in
 * store/bundle-processor.ts; this route gives it the caller's policy and
 * answers GET entries by replaying them through the server itself (same
 * authentication, same policy, same audit as a direct request).
 */
export const bundleRoutes: FastifyPluginAsync = async (app) => {
  const { repository, config } = app;
  app.post('/', async (request, reply) => {
    const type = responseType(request);
    // The Bundle's own shape (its entries' resources are validated as they are written).
    if (isBundle(request.body)) assertStructure(request.body);
    // ITI-65 checks and document replacement (space/documents) before anything is prepared.
    const { body, added } = await prepareProvideBundle(request.body, app.engine, config.fhirBase, request);
    let restriction: Promise<SearchRestriction> | undefined;
    const result = await processBundle(repository, body, {
      fhirBase: config.fhirBase,
      maxEntries: config.bundleMaxEntries,
      binaryMaxBytes: config.binaryMaxBytes,
      returnPreference: parsePrefer(request.headers.prefer).return,
      authorize: (action, interaction, target, precheck) => authorize(request, action, interaction, target, { precheck }),
      writeCheck: (action, interaction) => {
        const check = writeCheck(request, action, interaction);
        // A replacing document is checked once its subject is resolved (space/documents/replacements.ts).
        return action === 'c' ? async (record) => {
          await checkReplacedSamePatient(app.engine, record, config.fhirBase);
          await check(record);
        } : check;
      },
      restriction: () => (restriction ??= conditionalRestriction(request)),
      // A document's Binary keeps its content and stays while the document does; a document names a
      // Binary that exists (space/documents/document-content.ts), judged on the whole commit: a
      // transaction may delete a Binary with every document using it.
      commitRules: {
        turns: (writes) => contentTurns(app.engine, writes, config.fhirBase),
        check: (write, together) => checkContentWrite(request, write, together),
      },
      writeRules: (type, write) => applyWriteRules(request, type, write),
      // What the caller may not read stays hidden on writes, as on the direct requests (routes/resource.ts).
      refuseChange: (current, interaction) => refuseChangeOverHidden(request, current, interaction),
      disclose: (record) => disclosed(request, record),
      read: async (url, entry): Promise<BundleEntry> => {
        const headers: Record<string, string> = { authorization: request.headers.authorization ?? '', accept: 'application/fhir+json' };
        if (entry?.ifNoneMatch) headers['if-none-match'] = entry.ifNoneMatch;
        if (entry?.ifModifiedSince) headers['if-modified-since'] = httpDate(entry.ifModifiedSince);
        const res = await app.inject({ method: 'GET', url: `/fhir/${resourceForm(url.replace(/^\//, ''))}`, headers });
        // Called once a transaction has committed: whatever the answer, this never throws.
        const body = parseResource(res.body);
        const ok = res.statusCode < 300;
        const lastModified = res.headers['last-modified'] ? new Date(String(res.headers['last-modified'])) : undefined;
        return {
          // HEAD asks for the answer's status and headers only.
          ...(ok && body && entry?.method !== 'HEAD' ? { resource: body } : {}),
          response: {
            status: String(res.statusCode),
            ...(res.headers.etag ? { etag: String(res.headers.etag) } : {}),
            ...(lastModified && !Number.isNaN(lastModified.getTime()) ? { lastModified: lastModified.toISOString() } : {}),
            ...(res.statusCode >= 400 && body?.resourceType === 'OperationOutcome' ? { outcome: body } : {}),
          },
        };
      },
    });
    if (added) result.entry = result.entry?.slice(0, result.entry.length - added);
    return reply.code(200).type(type).send(result);
  });
};

/**
 * A Binary read in a Bundle answers the Binary resource, never its raw bytes
 * (which may even be of a FHIR JSON type): `_format` asks for the resource.
 */
function resourceForm(url: string): string {
  if (!/^Binary(?:[/?]|$)/.test(url) || /[?&]_format=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}_format=json`;
}

/**
 * Bundle.entry.request.ifModifiedSince is a FHIR instant; the header wants an
 * HTTP date. Left as given when it is not a date, for the read to judge.
 */
function httpDate(instant: string): string {
  const date = new Date(instant);
  return Number.isNaN(date.getTime()) ? instant : date.toUTCString();
}

/** The answer's body as a resource, or undefined when it is none (empty, not JSON, not a resource). */
function parseResource(text: string): Resource | undefined {
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && typeof (value as Resource).resourceType === 'string' ? (value as Resource) : undefined;
  } catch {
    return undefined;
  }
}

function isBundle(body: unknown): body is Record<string, unknown> {
  return !!body && typeof body === 'object' && !Array.isArray(body) && (body as Resource).resourceType === 'Bundle';
}

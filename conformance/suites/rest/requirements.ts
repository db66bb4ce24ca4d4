import type { Requirement } from '../../runner/types.js';

const SPEC = 'FHIR R4 RESTful API';
const HTTP = 'https://hl7.org/fhir/R4/http.html';

function req(id: string, section: string, anchor: string, text: string, page = HTTP): Requirement {
  return { id, spec: SPEC, section, url: `${page}#${anchor}`, text };
}

/** The requirements of FHIR R4's RESTful API the rest suite verifies, quoted or closely paraphrased. */
export const REST = {
  capabilities: req('http-capabilities', '3.1.0.13 capabilities', 'capabilities',
    'The capabilities interaction (GET [base]/metadata) retrieves the server\'s CapabilityStatement; servers SHALL support it. The statement describes the FHIR version, the formats and the interactions supported.'),
  read: req('http-read', '3.1.0.2 read', 'read',
    'GET [base]/[type]/[id] returns the current content of the resource, with its id, and an ETag header carrying the versionId (W/"versionId") when the server versions resources.'),
  readUnknown: req('http-read-unknown', '3.1.0.2 read (unknown)', 'read',
    'A GET for an unknown resource returns 404 Not Found.'),
  readDeleted: req('http-read-deleted', '3.1.0.2 read (deleted)', 'read',
    'A GET for a deleted resource returns a 410 Gone status code; a server that does not track deleted resources treats them as unknown resources (404 Not Found).'),
  vread: req('http-vread', '3.1.0.3 vread', 'vread',
    'GET [base]/[type]/[id]/_history/[vid] returns that version of the resource, with its ETag.'),
  versioning: req('http-versioning', '3.1.0.1.4 Version ids', 'versioning',
    'Servers that support versioning SHALL return the versionId of the current version in the ETag header as a weak ETag (W/"[versionId]") and in meta.versionId; every update creates a new versionId.'),
  create: req('http-create', '3.1.0.7 create', 'create',
    'POST [base]/[type] creates a resource with a server-assigned id (an id in the body SHALL be ignored) and returns 201 Created with a Location header holding the new id and version: [base]/[type]/[id]/_history/[vid].'),
  update: req('http-update', '3.1.0.4 update', 'update',
    'PUT [base]/[type]/[id] creates a new current version of the resource; the server returns 200 OK with the new version (ETag, Last-Modified).'),
  concurrency: req('http-concurrency', '3.1.0.5 Managing Resource Contention', 'concurrency',
    'If the If-Match header does not match the current version of the resource, the server SHALL return 412 Precondition Failed; when it matches, the update proceeds.'),
  delete: req('http-delete', '3.1.0.7 delete', 'delete',
    'DELETE [base]/[type]/[id] removes the resource: the server returns 200 OK or 204 No Content, and subsequent reads return 410 Gone.'),
  conditionalCreate: req('http-ccreate', '3.1.0.8.1 Conditional create', 'ccreate',
    'With If-None-Exist: no matches, the server creates the resource; one match, the server ignores the post and returns 200 OK; multiple matches, the server returns 412 Precondition Failed.'),
  conditionalUpdate: req('http-cond-update', '3.1.0.4.3 Conditional update', 'cond-update',
    'PUT [base]/[type]?[search]: no matches, the server performs a create; one match, the server updates the matching resource; multiple matches, the server returns 412 Precondition Failed.'),
  conditionalDelete: req('http-cond-delete', '3.1.0.7.1 Conditional delete', '3.1.0.7.1',
    'DELETE [base]/[type]?[search]: one match, the server deletes it; multiple matches, a server that supports only single deletes returns 412 Precondition Failed.'),
  history: req('http-history', '3.1.0.11 history', 'history',
    'GET [base]/[type]/[id]/_history returns a Bundle of type history with the versions of the resource, newest first, including deletions.'),
  paging: req('http-paging', '3.1.0.11 history / 3.1.1.5.7 paging', 'paging',
    'Servers page large results with Bundle links (next, previous...); following the next links returns every entry exactly once.'),
  mimeAccept: req('http-mime-accept', '3.1.0.1.10 Content Types (Accept)', 'mime-type',
    'The server returns resources in the format asked for by the Accept header or _format; if it cannot produce an acceptable format it returns 406 Not Acceptable.'),
  mimeBody: req('http-mime-body', '3.1.0.1.10 Content Types (request body)', 'mime-type',
    'A request body in a format the server does not support is refused with 415 Unsupported Media Type.'),
  prefer: req('http-prefer', '3.1.0.1.9 create/update/patch/transaction: Prefer return', 'ops',
    'Clients may ask with Prefer: return=minimal (no body), return=representation (the resource) or return=OperationOutcome (an OperationOutcome) for the body of create and update responses.'),
  security: req('http-security', 'Security: HTTP and SMART', 'http',
    'A server protected by OAuth refuses a request without an access token with 401 Unauthorized (and a WWW-Authenticate header), revealing no data.', 'https://hl7.org/fhir/R4/security.html'),
  transaction: req('http-transaction', '3.1.0.12 transaction', 'transaction',
    'A transaction SHALL be processed as a single atomic unit: if any entry fails, the whole transaction fails and no changes are made. The response is a transaction-response Bundle with one entry per request entry.'),
  transactionReferences: req('http-trules', '3.1.0.12.1 Transaction Processing Rules', 'trules',
    'When a transaction creates resources identified by urn:uuid fullUrls, the server SHALL replace every reference to those fullUrls with a reference to the new resource ids.'),
  batch: req('http-batch', '3.1.0.12 batch', 'transaction',
    'In a batch each entry is processed on its own: a failing entry does not make the others fail; the batch-response Bundle carries one entry per request with its own status.'),
} satisfies Record<string, Requirement>;

import type { SmartConfiguration } from './types.js';

/**
 * What makes a JSON document at `.well-known/smart-configuration` a SMART
 * configuration. SMART App Launch 2.2 (conformance.html#metadata) makes four
 * members REQUIRED, for App Launch and Backend Services alike.
 */
export const SMART_REQUIRED_FIELDS = ['token_endpoint', 'grant_types_supported', 'capabilities', 'code_challenge_methods_supported'] as const;

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isAbsoluteHttpUrl(value: string): boolean {
  return /^https?:\/\/[^/\s]+/i.test(value);
}

/**
 * Every way the document misses SMART's required members, in one list so that a
 * report names them all at once: `missing required fields: capabilities, ...`,
 * then members present in the wrong shape. Empty when the four are there.
 */
export function requiredFieldProblems(doc: SmartConfiguration): string[] {
  const missing = SMART_REQUIRED_FIELDS.filter((f) => doc[f] === undefined || doc[f] === null);
  const problems = missing.length > 0 ? [`missing required field${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`] : [];
  const endpoint = doc.token_endpoint;
  if (!missing.includes('token_endpoint') && (typeof endpoint !== 'string' || !isAbsoluteHttpUrl(endpoint))) {
    problems.push(`token_endpoint is not an absolute http(s) URL: ${JSON.stringify(endpoint)}`);
  }
  for (const f of ['grant_types_supported', 'capabilities', 'code_challenge_methods_supported'] as const) {
    if (missing.includes(f)) continue;
    if (!isStringArray(doc[f])) problems.push(`${f} is not an array of strings: ${JSON.stringify(doc[f]).slice(0, 80)}`);
  }
  // A server must support some grant: an empty list names none.
  if (isStringArray(doc.grant_types_supported) && doc.grant_types_supported.length === 0) problems.push('grant_types_supported is empty');
  return problems;
}

export type SmartDiscovery = { configuration: SmartConfiguration; tokenEndpoint: string } | { error: string };

/**
 * Reads a `.well-known/smart-configuration` answer for discovery. Not every
 * 200 JSON is a SMART configuration (a catch-all route answers `{"status":"ok"}`
 * anywhere): the kit takes it as one only when it names a token endpoint, since
 * taking it would make the kit believe the server demands tokens. Other missing
 * members do not stop discovery; `smart.discovery.required-fields` reports them.
 */
export function readSmartConfiguration(status: number, body: unknown, base: string): SmartDiscovery {
  const where = 'GET .well-known/smart-configuration';
  if (status !== 200) return { error: `${where} answered ${status}` };
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { error: `${where} answered 200 without a JSON object` };
  const doc = body as SmartConfiguration;
  if (typeof doc.token_endpoint !== 'string' || doc.token_endpoint === '') {
    return { error: `${where} answered a JSON document that is no SMART configuration (${requiredFieldProblems(doc).join('; ')})` };
  }
  let tokenEndpoint: string;
  try {
    // SMART asks clients to resolve a relative endpoint against the FHIR base (RFC 1808); the check still fails it.
    tokenEndpoint = new URL(doc.token_endpoint, `${base}/`).toString();
  } catch {
    return { error: `${where} names a token_endpoint that is not a URL: ${JSON.stringify(doc.token_endpoint)}` };
  }
  return { configuration: doc, tokenEndpoint };
}

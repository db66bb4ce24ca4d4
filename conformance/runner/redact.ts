import type { Exchange } from './types.js';

/**
 * Secrets are cut short before an exchange is recorded: reports (HTML, JUnit,
 * TestReport) are shared, tokens and credentials must not be. What is kept (the
 * first characters) is enough to tell two tokens apart when debugging.
 */

/**
 * Names that always carry a secret, in JSON members, form fields and query strings.
 * `code` and `token` are secrets only in OAuth messages: FHIR uses `code` for codes
 * (Observation `code`, OperationOutcome `issue.code`) and searches by `code=`.
 */
const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'code_verifier',
  'client_assertion',
  'client_secret',
  'assertion',
  'password',
]);

/** A form or query is an OAuth message (token request, introspection, revocation, authorization redirect). */
function isOAuthMessage(params: URLSearchParams): boolean {
  return params.has('grant_type') || params.has('token') || (params.has('code') && params.has('state'));
}

function isSecretParam(name: string, params: URLSearchParams): boolean {
  return SECRET_FIELDS.has(name) || ((name === 'code' || name === 'token') && isOAuthMessage(params));
}

/** A compact JWS/JWT (header.payload.signature, base64url). */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g;

const KEPT = 8;

export function shorten(secret: string): string {
  return secret.length <= KEPT ? '…' : `${secret.slice(0, KEPT)}…`;
}

/** Any JWT left in free text (a URL, a header, an error message) is shortened too. */
export function redactText(text: string): string {
  return text.replace(JWT, shorten);
}

function redactJsonValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJsonValue);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELDS.has(k) && typeof v === 'string' ? shorten(v) : redactJsonValue(v);
    return out;
  }
  return value;
}

/** The params with their secrets shortened, or undefined when there were none. */
function redactParams(params: URLSearchParams): URLSearchParams | undefined {
  const secrets = [...params.keys()].filter((k) => isSecretParam(k, params));
  if (secrets.length === 0) return undefined;
  const out = new URLSearchParams();
  for (const [k, v] of params) out.append(k, secrets.includes(k) ? shorten(v) : v);
  return out;
}

function redactForm(text: string): string {
  return redactParams(new URLSearchParams(text))?.toString() ?? text;
}

/** A recorded body with its secrets shortened: JSON members, form fields, then any JWT left. */
export function redactBody(body: string, contentType: string | undefined): string {
  let out = body;
  if (/x-www-form-urlencoded/.test(contentType ?? '')) out = redactForm(out);
  else if (/json/.test(contentType ?? '') || /^\s*[{[]/.test(out)) {
    try {
      const parsed: unknown = JSON.parse(out);
      const redacted = JSON.stringify(redactJsonValue(parsed));
      // Re-serialized only when a secret was found, so other bodies keep their layout.
      if (redacted !== JSON.stringify(parsed)) out = redacted;
    } catch {
      // Not JSON after all (or cut short): the JWT pass below still applies.
    }
  }
  return redactText(out);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const redacted = redactParams(parsed.searchParams);
    if (redacted) parsed.search = redacted.toString();
    return redactText(redacted ? parsed.toString() : url);
  } catch {
    return redactText(url);
  }
}

function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'authorization') out[k] = v.replace(/^(\S+\s+)(.*)$/, (_m, scheme: string, cred: string) => scheme + shorten(cred));
    else if (k === 'cookie' || k === 'set-cookie') out[k] = v.replace(/=([^;,\s]+)/g, (_m, value: string) => `=${shorten(value)}`);
    else if (k === 'location' || k === 'content-location') out[k] = redactUrl(v);
    else out[k] = redactText(v);
  }
  return out;
}

/** The exchange as it may be recorded: credentials in headers, URLs and bodies shortened. */
export function redactExchange(exchange: Exchange): Exchange {
  const { request, response } = exchange;
  return {
    request: {
      method: request.method,
      url: redactUrl(request.url),
      headers: redactHeaders(request.headers),
      ...(request.body !== undefined ? { body: redactBody(request.body, request.headers['content-type']) } : {}),
    },
    ...(response
      ? { response: { status: response.status, headers: redactHeaders(response.headers), body: redactBody(response.body, response.headers['content-type']) } }
      : {}),
    ...(exchange.error !== undefined ? { error: redactText(exchange.error) } : {}),
  };
}

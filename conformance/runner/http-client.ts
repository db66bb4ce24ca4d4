import { CredentialRefused, TokenWithheld } from './check-errors.js';
import { describeRefusal } from './credential-refusal.js';
import { redactExchange } from './redact.js';
import { DEFAULT_TIMEOUT_MS, RequestIncomplete, sendWithDeadline } from './timed-request.js';
import type { Exchange } from './types.js';

export const FHIR_JSON = 'application/fhir+json';

export interface HttpRequest {
  method?: string;
  /** Relative to the FHIR base (`Patient/1`, `?_id=x`, `''`) or an absolute URL. */
  path: string;
  query?: Record<string, string | string[] | undefined>;
  headers?: Record<string, string>;
  /** Objects are sent as FHIR JSON; strings and bytes as they are. */
  body?: unknown;
  /**
   * `default`: the suite's token, when the run has one; `none`: no Authorization
   * header at all; any other string is sent as the bearer token.
   */
  auth?: 'default' | 'none' | { token: string };
  /**
   * A 401 is an answer the check judges even when the request carries one of
   * the run's credentials (a token whose access the check just withdrew).
   * Otherwise such a 401 throws {@link CredentialRefused}: the credential
   * expired or was revoked during the run, and the check can reach no verdict.
   */
  refusalExpected?: boolean;
}

/**
 * Names the run's credentials: the run's own token (`isDefault`), and the
 * tokens it was given (`--token`, the `--space-*` actors'). Undefined for any
 * other token (a forged one, one a check got for itself).
 */
export type CredentialNamer = (token: string, isDefault: boolean) => string | undefined;

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  bytes: Buffer;
  text: string;
  url: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Where exchanges of the current check are kept; one per check. */
export type ExchangeSink = (exchange: Exchange) => void;

const MAX_RECORDED_BODY = 64 * 1024;

export function resolveUrl(base: string, path: string, query?: HttpRequest['query']): string {
  const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(joinBase(base, path));
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, v);
  }
  return url.toString();
}

function joinBase(base: string, path: string): string {
  const trimmed = base.replace(/\/+$/, '');
  if (path === '') return trimmed;
  if (path.startsWith('?')) return trimmed + path;
  return `${trimmed}/${path.replace(/^\/+/, '')}`;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function recordable(body: string | Buffer | undefined, contentType: string | undefined): string | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body) && !isTextual(contentType)) return `<${body.length} bytes of ${contentType ?? 'unknown type'}>`;
  const text = body.toString();
  return text.length > MAX_RECORDED_BODY ? `${text.slice(0, MAX_RECORDED_BODY)}\n... (${text.length - MAX_RECORDED_BODY} more characters)` : text;
}

function isTextual(contentType: string | undefined): boolean {
  return contentType === undefined || /json|xml|text|x-www-form-urlencoded|javascript/.test(contentType);
}

function parseJson(text: string, contentType: string | undefined): unknown {
  if (!text || (contentType && !/json/.test(contentType))) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parsed(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Same origin (scheme, host, port) and a path equal to the base's or below it (`/fhir`, `/fhir/...`, not `/fhir-admin`). */
function isWithin(url: string, base: string): boolean {
  const u = parsed(url);
  const b = parsed(base);
  if (!u || !b || u.origin !== b.origin) return false;
  const prefix = b.pathname.replace(/\/+$/, '');
  return u.pathname === prefix || u.pathname.startsWith(`${prefix}/`);
}

function sameUrl(url: string, other: string): boolean {
  const u = parsed(url);
  const o = parsed(other);
  return u !== undefined && o !== undefined && u.origin === o.origin && u.pathname === o.pathname;
}

/**
 * A small HTTP client that remembers every exchange, so a failed check can
 * show exactly what was sent and what came back.
 */
export class HttpClient {
  constructor(
    readonly base: string,
    private readonly sink: ExchangeSink,
    private readonly defaultToken: () => Promise<string | undefined>,
    /** The deadline of each whole request (`--timeout`). */
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
    /** Which tokens are the run's credentials; none: a 401 is always the check's to judge. */
    private readonly credentialName?: CredentialNamer,
    /** URLs outside the base a token may still go to (the token endpoint); see {@link mayCarryToken}. */
    private readonly tokenUrls: readonly string[] = [],
  ) {}

  async request(req: HttpRequest): Promise<HttpResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = resolveUrl(this.base, req.path, req.query);
    const headers: Record<string, string> = { accept: FHIR_JSON };
    let body: string | Buffer | undefined;
    if (req.body !== undefined) {
      if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) body = req.body;
      else {
        body = JSON.stringify(req.body);
        headers['content-type'] = FHIR_JSON;
      }
    }
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    const auth = req.auth ?? 'default';
    let credential: string | undefined;
    if (auth !== 'none' && headers.authorization === undefined) {
      const token = auth === 'default' ? await this.defaultToken() : auth.token;
      // A URL the server names (a next link, an attachment) may lead anywhere: a token goes only to the
      // server under test. Thrown before anything is sent; the callers that follow such URLs check first.
      if (token && !this.mayCarryToken(url)) throw new TokenWithheld(`${method} ${url} was not sent: it is outside the FHIR base ${this.base}, and the kit sends its tokens to no other host`);
      if (token) {
        headers.authorization = `Bearer ${token}`;
        credential = this.credentialName?.(token, auth === 'default');
      }
    }
    const exchange: Exchange = {
      request: { method, url, headers: { ...headers }, body: recordable(body, headers['content-type']) },
    };
    let response: HttpResponse;
    try {
      const res = await sendWithDeadline(url, { method, headers, body }, this.timeoutMs);
      const resHeaders = flattenHeaders(res.headers);
      const text = res.bytes.toString('utf8');
      exchange.response = { status: res.status, headers: resHeaders, body: recordable(res.bytes, resHeaders['content-type']) ?? '' };
      response = { status: res.status, headers: resHeaders, bytes: res.bytes, text, url, json: parseJson(text, resHeaders['content-type']) };
    } catch (err) {
      exchange.error = err instanceof RequestIncomplete ? err.reason : String(err);
      throw err;
    } finally {
      // The one place exchanges are recorded: secrets are cut short here, before any report sees them.
      this.sink(redactExchange(exchange));
    }
    // The given tokens were tried before the first check, and the run's own was just issued: a 401 to
    // one now means it expired or was revoked, whatever the check meant to judge. Thrown here, so that
    // no check takes it for a refusal it was looking for (a 4xx), nor fails the server for it. Only the
    // FHIR API judges bearer tokens: a 401 from an OAuth endpoint concerns the client's own authentication.
    if (response.status === 401 && credential !== undefined && !req.refusalExpected && this.isUnderBase(url)) {
      const token = headers.authorization!.slice('Bearer '.length);
      throw new CredentialRefused(describeRefusal(credential, token, { method, url, headers: response.headers, json: response.json }, true));
    }
    return response;
  }

  /** Whether `url` is on the server under test: the base's origin, and a path within the base's path. */
  isUnderBase(url: string): boolean {
    return isWithin(url, this.base);
  }

  /** Whether a bearer token may be sent to `url`: under the base, or one of the token URLs (the token endpoint). */
  mayCarryToken(url: string): boolean {
    return this.isUnderBase(url) || this.tokenUrls.some((t) => sameUrl(url, t));
  }

  get(path: string, options: Omit<HttpRequest, 'path' | 'method'> = {}): Promise<HttpResponse> {
    return this.request({ ...options, path, method: 'GET' });
  }
}

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { request } from 'undici';

/**
 * A deliberately broken FHIR server: a proxy in front of a real one that
 * injects one kind of fault. The conformance kit must report each fault as a
 * failure of the check that covers it.
 */
export type Fault =
  /** Strips ETag headers from every response. */
  | 'drop-etag'
  /** Answers 200 where the server answered 404. */
  | 'not-found-as-200'
  /** Serves requests that carry no token as if they had a full-access one. */
  | 'no-auth-200'
  /** Offers the plain PKCE method and issues a code for plain challenges. */
  | 'pkce-plain'
  /** Ignores the scopes of the caller's token: any bearer gets full access. */
  | 'leak-hidden'
  /** Serves document reads and searches with full access, whoever asks: masked documents leak to professionals. */
  | 'leak-masked'
  /** Serves emergency (break-the-glass) requests with full access, outside the policy: no BTG audit, objections ignored. */
  | 'btg-unchecked'
  /** Not a FHIR server: a web page with 200 for every request (the real server is never asked). */
  | 'html-everywhere'
  /** An open server: declares no security, serves no SMART configuration, and serves requests without a token in full. */
  | 'no-security'
  /** Declares SMART security but names no token endpoint (no oauth-uris, no SMART configuration). */
  | 'hidden-token-endpoint'
  /** Takes any signed JWT for a valid token (the signature is never verified); alg:none is still refused. */
  | 'unverified-signature'
  /** Answers its 401s with a Basic challenge instead of a Bearer one. */
  | 'www-basic'
  /** Gives Location headers on another server. */
  | 'location-foreign'
  /** Ignores the _lastUpdated search parameter. */
  | 'ignore-last-updated'
  /** Strips meta.versionId from every resource it returns (Bundle entries included); ETags stay. */
  | 'drop-version-id'
  /** Answers 404 where the server answered 410: a server that does not track deleted resources. */
  | 'gone-as-404'
  /** Answers every DELETE 204 without deleting anything: the resource is still read afterwards. */
  | 'delete-ignored'
  /** Serves a SMART configuration holding its token_endpoint but none of the other required fields. */
  | 'smart-config-partial'
  /** Keeps only the AuditEvents of writes in AuditEvent searches: a trail that records no read. */
  | 'audit-writes-only'
  /** Tells only the patient of an emergency access: other recipients are taken off the Communications found. */
  | 'btg-doctor-untold'
  /** Applies a patient's deny Consent to any professional, the regular doctor included, on document reads and searches. */
  | 'doctor-blockable';

export interface FaultProxy {
  /** The proxy's origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'content-length']);

function isPublicPath(path: string): boolean {
  return /\/(metadata|\.well-known\/|auth\/)/.test(path) || !path.startsWith('/fhir');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Whether a bearer header carries a JWT whose header names a signing algorithm (not `none`). */
function isSignedJwt(authorization: string | undefined): boolean {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token || token.split('.').length !== 3) return false;
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { alg?: string };
    return typeof header.alg === 'string' && header.alg !== 'none';
  } catch {
    return false;
  }
}

/** The resource without meta.versionId, and so for each resource of a Bundle. */
function withoutVersionIds(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  const resource = value as { meta?: { versionId?: string }; entry?: { resource?: unknown }[] };
  if (resource.meta) delete resource.meta.versionId;
  for (const entry of resource.entry ?? []) withoutVersionIds(entry.resource);
  return resource;
}

/** The claims of a bearer JWT, unverified (the proxy only needs to know who is asking). */
function bearerClaims(authorization: string | undefined): { fhirUser?: string } | undefined {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  try {
    return JSON.parse(Buffer.from(token?.split('.')[1] ?? '', 'base64url').toString('utf8')) as { fhirUser?: string };
  } catch {
    return undefined;
  }
}

/** A searchset Bundle (JSON) with its entries filtered, or rewritten. */
function editEntries(out: Buffer<ArrayBuffer>, edit: (resource: Record<string, unknown>) => Record<string, unknown> | undefined): Buffer<ArrayBuffer> {
  const bundle = JSON.parse(out.toString('utf8')) as { resourceType?: string; entry?: { resource?: Record<string, unknown> }[] };
  if (bundle.resourceType !== 'Bundle') return out;
  bundle.entry = (bundle.entry ?? []).flatMap((e) => {
    const resource = e.resource && edit(e.resource);
    return resource ? [{ ...e, resource }] : [];
  });
  return Buffer.from(JSON.stringify(bundle));
}

/** Drops the oauth-uris extension (so no token endpoint), and the whole security element when `all`. */
function withoutTokenEndpoint(cs: CapabilityStatement, all: boolean): CapabilityStatement {
  for (const rest of cs.rest ?? []) {
    if (all) delete rest.security;
    else if (rest.security) rest.security.extension = rest.security.extension?.filter((e) => !e.url.endsWith('/oauth-uris'));
  }
  return cs;
}

export async function startFaultProxy(options: {
  /** Origin of the real server, e.g. http://127.0.0.1:3000 */
  target: string;
  fault: Fault;
  /** A full-access token of the real server, used by the faults that leak. */
  privilegedToken: () => Promise<string>;
}): Promise<FaultProxy> {
  const { fault } = options;
  let origin = '';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    const body = await readBody(req);
    if (fault === 'html-everywhere') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html><body>Welcome</body></html>');
      return;
    }
    if ((fault === 'no-security' || fault === 'hidden-token-endpoint') && /\/\.well-known\/smart-configuration/.test(path)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    if ((fault === 'no-auth-200' || fault === 'no-security') && !headers.authorization && !isPublicPath(path)) {
      headers.authorization = `Bearer ${await options.privilegedToken()}`;
    }
    if (fault === 'leak-hidden' && headers.authorization && !isPublicPath(path)) headers.authorization = `Bearer ${await options.privilegedToken()}`;

    if (fault === 'leak-masked' && headers.authorization && req.method === 'GET' && /^\/fhir\/DocumentReference\b/.test(path)) {
      headers.authorization = `Bearer ${await options.privilegedToken()}`;
    }

    if (fault === 'btg-unchecked' && headers['x-break-the-glass']) {
      delete headers['x-break-the-glass'];
      headers.authorization = `Bearer ${await options.privilegedToken()}`;
    }

    if (fault === 'pkce-plain' && /\/authorize\?/.test(path)) {
      const q = new URL(path, 'http://proxy').searchParams;
      if (q.get('code_challenge_method') === 'plain' && q.get('redirect_uri')) {
        res.writeHead(302, { location: `${q.get('redirect_uri')}?code=accepted-plain&state=${q.get('state') ?? ''}` }).end();
        return;
      }
    }

    if (fault === 'doctor-blockable' && req.method === 'GET' && /^\/fhir\/DocumentReference\b/.test(path)) {
      const who = bearerClaims(headers.authorization)?.fhirUser;
      if (who?.startsWith('Practitioner/')) {
        const found = await request(`${options.target}/fhir/Consent?actor=${encodeURIComponent(who)}&status=active&_count=100`, {
          headers: { authorization: `Bearer ${await options.privilegedToken()}`, accept: 'application/fhir+json' },
        });
        const consents = (await found.body.json()) as { entry?: { resource?: { provision?: { type?: string } } }[] };
        if ((consents.entry ?? []).some((e) => e.resource?.provision?.type === 'deny')) {
          res.writeHead(403, { 'content-type': 'application/fhir+json' })
            .end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'blocked by the patient' }] }));
          return;
        }
      }
    }

    if (fault === 'delete-ignored' && req.method === 'DELETE') {
      res.writeHead(204).end();
      return;
    }

    let target = path;
    if (fault === 'ignore-last-updated' && path.includes('?')) {
      const [pathname, query] = path.split('?', 2) as [string, string];
      const params = new URLSearchParams(query);
      params.delete('_lastUpdated');
      target = `${pathname}?${params}`;
    }
    const send = (authorization?: string) => request(`${options.target}${target}`, {
      method: (req.method ?? 'GET') as 'GET',
      headers: authorization ? { ...headers, authorization } : headers,
      body: body.length ? body : undefined,
    });
    let upstream = await send();
    if (fault === 'unverified-signature' && upstream.statusCode === 401 && isSignedJwt(headers.authorization)) {
      await upstream.body.dump();
      upstream = await send(`Bearer ${await options.privilegedToken()}`);
    }
    let status = upstream.statusCode;
    let out = Buffer.from(await upstream.body.arrayBuffer());
    const outHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) outHeaders[k] = v;

    // Locations name the proxy, as a server configured with its public URL would (rest.create.location checks it).
    for (const h of ['location', 'content-location']) if (typeof outHeaders[h] === 'string') outHeaders[h] = outHeaders[h].replaceAll(options.target, origin);
    if (fault === 'drop-etag') delete outHeaders.etag;
    if (fault === 'www-basic' && outHeaders['www-authenticate']) outHeaders['www-authenticate'] = 'Basic realm="carnet"';
    if (fault === 'location-foreign' && typeof outHeaders.location === 'string') outHeaders.location = outHeaders.location.replace(/^https?:\/\/[^/]+/, 'https://evil.example');
    if (fault === 'not-found-as-200' && status === 404) status = 200;
    if (fault === 'pkce-plain' && /\.well-known\/smart-configuration/.test(path) && status === 200) {
      const conf = JSON.parse(out.toString('utf8')) as { code_challenge_methods_supported?: string[] };
      conf.code_challenge_methods_supported = [...(conf.code_challenge_methods_supported ?? []), 'plain'];
      out = Buffer.from(JSON.stringify(conf));
    }
    if (fault === 'gone-as-404' && status === 410) status = 404;
    if (fault === 'drop-version-id' && /json/.test(String(outHeaders['content-type'] ?? '')) && out.length > 0) {
      out = Buffer.from(JSON.stringify(withoutVersionIds(JSON.parse(out.toString('utf8')))));
    }
    if (fault === 'smart-config-partial' && /\.well-known\/smart-configuration/.test(path) && status === 200) {
      const conf = JSON.parse(out.toString('utf8')) as Record<string, unknown>;
      for (const field of ['grant_types_supported', 'capabilities', 'code_challenge_methods_supported']) delete conf[field];
      out = Buffer.from(JSON.stringify(conf));
    }
    const isSearch = (type: string): boolean => req.method === 'GET' && new RegExp(`^/fhir/${type}(\\?|$)`).test(path) && status === 200;
    if (fault === 'audit-writes-only' && isSearch('AuditEvent')) {
      out = editEntries(out, (r) => (r.resourceType !== 'AuditEvent' || ['C', 'U', 'D'].includes(String(r.action)) ? r : undefined));
    }
    if (fault === 'btg-doctor-untold' && isSearch('Communication')) {
      out = editEntries(out, (r) => ({ ...r, recipient: ((r.recipient ?? []) as { reference?: string }[]).filter((x) => x.reference?.startsWith('Patient/')) }));
    }
    if (fault === 'no-security' || (!isPublicPath(path) && /json/.test(String(outHeaders['content-type'] ?? '')))) {
      // URLs in FHIR API bodies (next links, attachment urls) name the proxy, as a server configured with its
      // public URL would: the kit follows no link off its base (and never sends its token to another host).
      // Discovery documents keep naming the real token endpoint, which client assertions are addressed to.
      out = Buffer.from(out.toString('utf8').replaceAll(options.target, origin));
    }
    if ((fault === 'no-security' || fault === 'hidden-token-endpoint') && /\/metadata\b/.test(path) && status === 200) {
      out = Buffer.from(JSON.stringify(withoutTokenEndpoint(JSON.parse(out.toString('utf8')) as CapabilityStatement, fault === 'no-security')));
    }
    outHeaders['content-length'] = String(out.length);
    res.writeHead(status, outHeaders).end(out);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { Test } from 'tap';

/**
 * A small fake FHIR server for one defect at a time (no carnet server): it
 * answers `metadata` from the resources it is given, a search for the run's
 * credential check, and passes everything else to `handle`. It records every
 * request, with its Authorization header, so a test can tell what reached it.
 */
export interface FakeRequest {
  method: string;
  /** The path below the origin, e.g. `/fhir/Patient/1`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: unknown;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeFhir {
  origin: string;
  base: string;
  requests: { method: string; url: string; authorization?: string }[];
}

export interface FakeOptions {
  resources?: CapabilityStatementRestResource[];
  /** System interactions (`transaction`, `batch`). */
  interactions?: string[];
  instantiates?: string[];
  /** Declares SMART security with a token endpoint at `/auth/token` (default: true). */
  security?: boolean;
  handle?: (req: FakeRequest, fake: FakeFhir) => FakeAnswer | undefined | Promise<FakeAnswer | undefined>;
}

export const outcome = (diagnostics: string): unknown => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics }] });

export async function startFakeFhir(t: Test, options: FakeOptions = {}): Promise<FakeFhir> {
  const fake: FakeFhir = { origin: '', base: '', requests: [] };
  const capabilities = (): CapabilityStatement => ({
    resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: '2025-01-01',
    ...(options.instantiates ? { instantiates: options.instantiates } : {}),
    rest: [{
      mode: 'server',
      ...(options.security === false ? {} : {
        security: {
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${fake.origin}/auth/token` }] }],
        },
      }),
      resource: options.resources ?? [{ type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }] }],
      interaction: (options.interactions ?? []).map((code) => ({ code: code as 'transaction' })),
    }],
  });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', fake.origin);
      fake.requests.push({ method: req.method ?? 'GET', url: url.toString(), authorization: req.headers.authorization });
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const request: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, json };
      Promise.resolve(url.pathname === '/fhir/metadata' ? { status: 200, body: capabilities() } : options.handle?.(request, fake))
        .then((answer) => {
          const out = answer ?? (req.method === 'GET' && /^\/fhir\/[A-Z][A-Za-z]+$/.test(url.pathname)
            ? { status: 200, body: { resourceType: 'Bundle', type: 'searchset', total: 0 } }
            : { status: 404, body: outcome(`no ${url.pathname}`) });
          res.writeHead(out.status, { 'content-type': 'application/fhir+json', ...out.headers });
          res.end(out.body === undefined ? '' : typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
        })
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.base = `${fake.origin}/fhir`;
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return fake;
}

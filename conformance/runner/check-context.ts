import type { CapabilityStatement, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { NO_TOKEN_ENDPOINT } from '../auth/token-source.js';
import type { TokenSource } from '../auth/token-source.js';
import {
  hasConditional,
  hasInteraction,
  hasOperation,
  hasSearchInclude,
  hasSearchParam,
  hasSearchRevInclude,
  hasSystemInteraction,
  resourceCapability,
} from './capabilities.js';
import type { ConditionalMode } from './capabilities.js';
import { CheckFailure, CheckSkipped } from './check-errors.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import type { SuiteId, Target } from './types.js';
import { withArticle } from './wording.js';

export interface AppClient {
  clientId: string;
  redirectUri: string;
}

/** Everything a check may use. Assertions throw; a check that returns has passed. */
export class CheckContext {
  readonly notes: string[] = [];
  /** Parts of the requirement this run could not verify (see {@link notChecked}). */
  readonly unchecked: string[] = [];

  constructor(
    readonly suite: SuiteId,
    readonly runId: string,
    readonly target: Target,
    readonly http: HttpClient,
    readonly tokens: TokenSource,
    /** The scope the suite's own token asks for. */
    readonly scope: string,
    /** A registered user-facing app, for authorization-code checks (optional). */
    readonly appClient?: AppClient,
  ) {}

  get base(): string {
    return this.target.base;
  }

  get capabilities(): CapabilityStatement {
    return this.target.capabilityStatement;
  }

  note(message: string): void {
    this.notes.push(message);
  }

  /** Says what of the requirement this check does not verify in this run, and why (shown with its result). */
  notChecked(what: string): void {
    this.unchecked.push(what);
  }

  skip(reason: string): never {
    throw new CheckSkipped(reason);
  }

  fail(message: string): never {
    throw new CheckFailure(message);
  }

  // Not an assertion signature: checks take `ctx` untyped (contextually), and TS only
  // narrows through assertion methods on explicitly typed names. Use `present` to narrow.
  expect(condition: unknown, message: string): void {
    if (!condition) this.fail(message);
  }

  /** The value itself, failing when it is missing (undefined, null, false or empty). */
  present<T>(value: T | undefined | null | false | '', message: string): T {
    if (value === undefined || value === null || value === false || value === '') this.fail(message);
    return value;
  }

  expectEqual<T>(actual: T, expected: T, what: string): void {
    if (actual !== expected) this.fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }

  /** Fails unless the status is one of the expected, quoting the server's own diagnostics. */
  expectStatus(res: HttpResponse, expected: number | number[], what: string): void {
    const list = Array.isArray(expected) ? expected : [expected];
    if (list.includes(res.status)) return;
    this.fail(`${what}: expected HTTP ${list.join(' or ')}, got ${res.status}${diagnostics(res)}`);
  }

  /** The response body as a resource of that type (or any type), failing otherwise. */
  resource<T extends Resource = Resource>(res: HttpResponse, type?: T['resourceType'], what = 'response body'): T {
    const body = res.json as Resource | undefined;
    if (!body || typeof body !== 'object' || typeof body.resourceType !== 'string') {
      this.fail(`${what}: expected a FHIR JSON resource${type ? ` (${type})` : ''}, got ${describeBody(res)}`);
    }
    if (type && body.resourceType !== type) this.fail(`${what}: expected ${withArticle(type)}, got ${withArticle(body.resourceType)}`);
    return body as T;
  }

  requireResource(type: string): void {
    if (!resourceCapability(this.capabilities, type)) this.skip(`not declared in the CapabilityStatement: resource ${type}`);
  }

  requireInteraction(type: string, code: string): void {
    if (!hasInteraction(this.capabilities, type, code)) {
      this.skip(`not declared in the CapabilityStatement: ${type} interaction '${code}'`);
    }
  }

  requireSystemInteraction(code: string): void {
    if (!hasSystemInteraction(this.capabilities, code)) {
      this.skip(`not declared in the CapabilityStatement: system interaction '${code}'`);
    }
  }

  requireSearchParam(type: string, name: string): void {
    this.requireInteraction(type, 'search-type');
    if (!hasSearchParam(this.capabilities, type, name)) this.skip(`not declared in the CapabilityStatement: ${type} search parameter '${name}'`);
  }

  requireInclude(type: string, include: string): void {
    if (!hasSearchInclude(this.capabilities, type, include)) this.skip(`not declared in the CapabilityStatement: ${type} searchInclude '${include}'`);
  }

  requireRevInclude(type: string, revinclude: string): void {
    if (!hasSearchRevInclude(this.capabilities, type, revinclude)) {
      this.skip(`not declared in the CapabilityStatement: ${type} searchRevInclude '${revinclude}'`);
    }
  }

  requireConditional(type: string, mode: ConditionalMode): void {
    if (!hasConditional(this.capabilities, type, mode)) this.skip(`not declared in the CapabilityStatement: ${type} ${mode}`);
  }

  requireOperation(name: string, type?: string): void {
    if (!hasOperation(this.capabilities, name, type)) this.skip(`not declared in the CapabilityStatement: operation ${name}`);
  }

  /**
   * Skips checks that need an access token when the run cannot have one: no
   * credentials given, or an open server that names no token endpoint.
   */
  requireCredentials(): void {
    if (this.tokens.kind === 'none') this.skip('the run has no credentials (--client-id/--private-key or --token)');
    if (this.tokens.tokenless) this.skip(this.tokens.tokenless);
  }

  /** For checks that talk to the token endpoint themselves; the skip names what is missing. */
  requireBackendCredentials(): NonNullable<TokenSource['backend']> {
    if (this.tokens.backend) return this.tokens.backend;
    if (this.tokens.kind === 'backend') this.skip(NO_TOKEN_ENDPOINT);
    this.skip(`needs Backend Services credentials (--client-id and --private-key)${this.tokens.kind === 'static' ? '; the run was given --token' : ''}`);
  }
}

function describeBody(res: HttpResponse): string {
  if (!res.text) return 'an empty body';
  const type = res.headers['content-type'] ?? 'no content type';
  return `${type}: ${res.text.slice(0, 120)}`;
}

function diagnostics(res: HttpResponse): string {
  const body = res.json as OperationOutcome | undefined;
  if (body?.resourceType !== 'OperationOutcome') return '';
  const text = body.issue?.map((i) => i.diagnostics ?? i.details?.text ?? i.code).filter(Boolean).join('; ');
  return text ? ` (${text})` : '';
}

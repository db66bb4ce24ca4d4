import type { ErrorObject, ValidateFunction } from 'ajv';
import { compileOwnSchema, describeSchemaErrors } from './json-schema.js';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseRequiredProfiles } from './fhir/validation/required-profiles.js';

/** Everything the server reads from its environment, validated once at start. */
export interface Config {
  host: string;
  port: number;
  /** Embedded engine's data directory (journal, blobs, lock, development keys). */
  dataDir: string;
  /** When set, the MongoDB engine is used instead of the embedded one. */
  mongodbUrl?: string;
  mongodbDb: string;
  /** Public base URL of the server, without trailing slash (http://127.0.0.1:8080). */
  publicUrl: string;
  /** The FHIR base: publicUrl + '/fhir'. Token audiences must equal it. */
  fhirBase: string;
  /** JSON file of registered clients; absent: a development client is created. */
  clientsFile?: string;
  /** Largest Binary accepted, in bytes. */
  binaryMaxBytes: number;
  /** Largest JSON body accepted, in bytes. */
  bodyLimit: number;
  /** Most entries a batch or transaction Bundle may hold. */
  bundleMaxEntries: number;
  accessTokenSeconds: number;
  searchDefaultCount: number;
  searchMaxCount: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Attempts per Subscription notification before the Subscription turns to `error`. */
  subscriptionMaxAttempts: number;
  /** First retry delay of a failed notification (each next one is 4 times longer, at most a minute). */
  subscriptionRetryMs: number;
  /**
   * Whether rest-hook Subscriptions may notify plain http endpoints and
   * non-public addresses (loopback, private, link-local...: space/subscriptions/endpoint.ts).
   * Off in production: a subscriber could otherwise make the server call its own network.
   */
  subscriptionAllowPrivateEndpoints: boolean;
  /** Profiles every resource of a type must meet (REQUIRED_PROFILES="Type=url[,url];Type2=url"). */
  requiredProfiles: Record<string, string[]>;
  /**
   * Audit records that may wait to become AuditEvents before they are
   * materialised even under load (audit/audit-trail.ts); they are kept in memory.
   */
  auditMaxBacklog: number;
  /**
   * Threads that validate and index new resources (store/write-workers); 0:
   * the main thread does it. Default: 1 when the machine has more than one core.
   */
  writeWorkers: number;
  /** Origins whose pages may read the API's answers (CORS); `*`: any. */
  corsOrigins: string[];
  /** How long answers under way at SIGTERM may take before their connections are cut (plugins/graceful-close.ts). */
  shutdownGraceSeconds: number;
}

const schema = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    dataDir: { type: 'string', minLength: 1 },
    mongodbUrl: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    mongodbDb: { type: 'string', minLength: 1 },
    publicUrl: { type: 'string', pattern: '^https?://[^/]+(/.*[^/])?$' },
    fhirBase: { type: 'string' },
    clientsFile: { type: 'string', minLength: 1 },
    binaryMaxBytes: { type: 'integer', minimum: 1 },
    bodyLimit: { type: 'integer', minimum: 1024 },
    bundleMaxEntries: { type: 'integer', minimum: 1 },
    accessTokenSeconds: { type: 'integer', minimum: 10, maximum: 86400 },
    searchDefaultCount: { type: 'integer', minimum: 1 },
    searchMaxCount: { type: 'integer', minimum: 1 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    subscriptionMaxAttempts: { type: 'integer', minimum: 1, maximum: 20 },
    subscriptionRetryMs: { type: 'integer', minimum: 1 },
    subscriptionAllowPrivateEndpoints: { type: 'boolean' },
    requiredProfiles: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string', pattern: '^https?://' } } },
    auditMaxBacklog: { type: 'integer', minimum: 0 },
    writeWorkers: { type: 'integer', minimum: 0, maximum: 64 },
    corsOrigins: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\*|https?://[^/\\s]+)$' } },
    shutdownGraceSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
  },
  required: ['host', 'port', 'dataDir', 'mongodbDb', 'publicUrl', 'fhirBase', 'binaryMaxBytes', 'bodyLimit', 'bundleMaxEntries',
    'accessTokenSeconds', 'searchDefaultCount', 'searchMaxCount', 'logLevel', 'requiredProfiles', 'auditMaxBacklog', 'writeWorkers', 'corsOrigins',
    'subscriptionAllowPrivateEndpoints', 'shutdownGraceSeconds'],
  additionalProperties: false,
} as const;

const MiB = 1024 * 1024;
/**
 * The default grace at SIGTERM: with the store's close after it, the stop
 * fits in Docker's default 10 s between SIGTERM and SIGKILL.
 */
const CLOSE_GRACE_SECONDS = 8;

/**
 * The server's URL when PUBLIC_URL is not set: its own address. `npm run
 * token` computes the same, so that its assertion's audience is the token
 * endpoint the server expects, whatever HOST is.
 */
export function listeningUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The public URL the server takes from this environment (PUBLIC_URL, or its listening address). */
export function publicUrlOf(env: NodeJS.ProcessEnv, overrides: Pick<Partial<Config>, 'publicUrl' | 'port'> = {}): string {
  const fallback = () => listeningUrl(env.HOST ?? '127.0.0.1', overrides.port ?? intOf(env.PORT, 8080));
  return (overrides.publicUrl ?? env.PUBLIC_URL ?? fallback()).replace(/\/+$/, '');
}

/**
 * Builds a frozen Config from environment variables (see README "Configuration"),
 * with `overrides` winning (tests and benchmarks pass their own values rather than
 * mutating process.env). Throws with every problem listed when a value is wrong.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Readonly<Config> {
  const host = env.HOST ?? '127.0.0.1';
  const port = intOf(env.PORT, 8080);
  const publicUrl = publicUrlOf(env, overrides);
  const config: Config = {
    host,
    port,
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    mongodbUrl: env.MONGODB_URL || undefined,
    mongodbDb: env.MONGODB_DB ?? 'carnet',
    publicUrl,
    fhirBase: `${publicUrl}/fhir`,
    clientsFile: env.CLIENTS_FILE ? path.resolve(env.CLIENTS_FILE) : undefined,
    binaryMaxBytes: intOf(env.BINARY_MAX_BYTES, 20 * MiB),
    bodyLimit: intOf(env.BODY_LIMIT, 25 * MiB),
    bundleMaxEntries: intOf(env.BUNDLE_MAX_ENTRIES, 5000),
    accessTokenSeconds: intOf(env.ACCESS_TOKEN_SECONDS, 300),
    searchDefaultCount: intOf(env.SEARCH_DEFAULT_COUNT, 20),
    searchMaxCount: intOf(env.SEARCH_MAX_COUNT, 1000),
    logLevel: (env.LOG_LEVEL ?? 'info') as Config['logLevel'],
    requiredProfiles: parseRequiredProfiles(env.REQUIRED_PROFILES),
    subscriptionMaxAttempts: intOf(env.SUBSCRIPTION_MAX_ATTEMPTS, 5),
    subscriptionRetryMs: intOf(env.SUBSCRIPTION_RETRY_MS, 1000),
    subscriptionAllowPrivateEndpoints: booleanOf(env.SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS, false),
    auditMaxBacklog: intOf(env.AUDIT_MAX_BACKLOG, 100_000),
    writeWorkers: intOf(env.WRITE_WORKERS, availableParallelism() > 1 ? 1 : 0),
    corsOrigins: (env.CORS_ORIGINS ?? '*').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
    shutdownGraceSeconds: intOf(env.SHUTDOWN_GRACE_SECONDS, CLOSE_GRACE_SECONDS),
    ...overrides,
  };
  if (overrides.publicUrl) config.fhirBase = `${config.publicUrl}/fhir`;
  if (!env.BODY_LIMIT && overrides.bodyLimit === undefined) config.bodyLimit = defaultBodyLimit(config.binaryMaxBytes);
  for (const key of Object.keys(config) as Array<keyof Config>) if (config[key] === undefined) delete config[key];
  const validate = configValidator();
  if (!validate(config)) {
    const problems = (validate.errors ?? []).map((error) => describeConfigError(error, env)).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return Object.freeze(config);
}

/**
 * One problem as the operator set it: the environment variable and its value
 * (`BINARY_MAX_BYTES=-5 (/binaryMaxBytes) must be a whole number`), not only
 * the schema's path.
 */
function describeConfigError(error: ErrorObject, env: NodeJS.ProcessEnv): string {
  const [schemaText = ''] = describeSchemaErrors([error]);
  const field = error.instancePath.split('/')[1];
  if (!field) return schemaText;
  const name = field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  const raw = env[name];
  // intOf gives NaN for anything but digits: the schema then says "must be integer".
  const message = error.keyword === 'type' && error.params.type === 'integer' ? 'must be a whole number' : error.message ?? 'is not valid';
  return raw === undefined ? schemaText : `${name}=${JSON.stringify(raw)} (${error.instancePath}) ${message}`;
}

let compiledValidator: ValidateFunction | undefined;

/** Compiled once per process (loadConfig may run twice at start, PORT=0). */
function configValidator(): ValidateFunction {
  compiledValidator ??= compileOwnSchema(schema);
  return compiledValidator;
}

/**
 * 25 MiB, or more when a Binary of BINARY_MAX_BYTES sent as FHIR JSON (its
 * bytes in base64, a third larger, and the JSON around them) would not fit:
 * a Binary the server stores raw must be writable as JSON too (PUT, a
 * transaction entry).
 */
export function defaultBodyLimit(binaryMaxBytes: number): number {
  const asJson = Math.ceil(binaryMaxBytes / 3) * 4 + 64 * 1024;
  return Number.isFinite(asJson) ? Math.max(25 * MiB, asJson) : 25 * MiB;
}

/** `true`/`false` (or `1`/`0`); anything else is left as given, for the schema to name as not a boolean. */
function booleanOf(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const known: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };
  return Object.hasOwn(known, value.toLowerCase()) ? known[value.toLowerCase()]! : (value as unknown as boolean);
}

function intOf(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

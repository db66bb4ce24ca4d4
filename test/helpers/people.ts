import type { FastifyInstance } from 'fastify';
import { argon2id } from 'hash-wasm';
import { randomBytes } from 'node:crypto';
import type { RegisteredClient } from '../../src/auth/clients.js';
import type { Config } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import type { TestClient } from './tokens.js';
import { appClient, authorize, bearer, createTestClient, exchangeCode, tempDir, writeClientsFile } from './tokens.js';

type Tap = { teardown: (fn: () => unknown) => void };

export const FHIR_JSON = 'application/fhir+json';
export const PASSWORD = 'correct horse battery staple';

let cheapHash: Promise<string> | undefined;
/**
 * PASSWORD's argon2id hash at the algorithm's smallest cost, made once per
 * test file, for accounts whose sign-in is not what a test is about:
 * production's parameters (19 MiB, 2 passes) cost about 130 ms for each
 * account created and each sign-in, minutes of CI. A sign-in verifies with
 * the parameters the hash carries, so it is as cheap. test/http/auth-authorize.test.ts
 * and test/unit/accounts.test.ts keep production's.
 */
export function passwordHash(): Promise<string> {
  return (cheapHash ??= argon2id({ password: PASSWORD.normalize('NFKC'), salt: randomBytes(16), parallelism: 1, iterations: 1, memorySize: 64, hashLength: 32, outputType: 'encoded' }));
}
export const VISIBILITY = 'https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument';
export const VITAL_SIGNS = 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs';
export const DAY_MS = 24 * 3600 * 1000;

/** Client ids of the user-facing apps registered in every space server. */
export const APPS = {
  /** The holder's (or representative's) own app: everything in the patient's compartment. */
  holder: 'holder-app',
  /** Professionals' software: user scopes. */
  pro: 'pro-app',
  /** A catalogue app that the holder approves for vital signs only. */
  catalogue: 'coach-app',
  /** A catalogue app whose scopes are restricted to vital signs (v2 search-restricted scopes). */
  vitals: 'vitals-app',
} as const;

export interface SpaceServer {
  app: FastifyInstance;
  /** The system client allowed everything (seeding, checks). */
  system: TestClient;
  /** A second system client registered with narrow scopes. */
  narrowSystem: TestClient;
  /** `Bearer <token>` of the system client for `scope`. */
  systemAuth(scope?: string): Promise<string>;
  /** Shifts the server's clock (what lastUpdated the store writes); 0 is the real time. */
  setClockOffset(ms: number): void;
}

/**
 * The whole server on the embedded engine, with the clients a health space
 * needs: the all-powerful system client (seeding), a narrow system client and
 * three user-facing apps. The server's clock can be shifted so that a write can
 * be made to look older than it is (the one-month rule).
 */
export async function buildSpaceServer(t: Tap, options: { config?: Partial<Config>; apps?: RegisteredClient[] } = {}): Promise<SpaceServer> {
  const dataDir = await tempDir(t, 'carnet-space-');
  const system = await createTestClient({ scope: 'system/*.cruds' });
  const narrowSystem = await createTestClient({ clientId: 'narrow-system', scope: 'system/Observation.rs' });
  const apps = options.apps ?? [
    appClient({ clientId: APPS.holder, scope: 'patient/*.cruds openid fhirUser launch/patient offline_access' }),
    appClient({ clientId: APPS.pro, scope: 'user/*.cruds openid fhirUser offline_access' }),
    appClient({ clientId: APPS.catalogue, scope: 'patient/Observation.rs patient/Observation.c patient/DocumentReference.rs launch/patient offline_access' }),
    appClient({ clientId: APPS.vitals, scope: `patient/Observation.rs?category=${VITAL_SIGNS} patient/Observation.c?category=${VITAL_SIGNS} launch/patient` }),
  ];
  const clientsFile = await writeClientsFile(dataDir, [system, narrowSystem, ...apps]);
  const config = loadConfig({}, { dataDir, clientsFile, publicUrl: 'http://carnet.test', logLevel: 'silent', ...options.config });
  let offset = 0;
  const app = await buildServer({ config, logger: false, now: () => Date.now() + offset });
  t.teardown(() => app.close());
  await app.ready();
  const tokens = new Map<string, string>();
  return {
    app, system, narrowSystem,
    async systemAuth(scope = 'system/*.cruds') {
      let header = tokens.get(scope);
      if (!header) tokens.set(scope, (header = await bearer(app, system, scope)));
      return header;
    },
    setClockOffset(ms: number) {
      offset = ms;
    },
  };
}

export interface UserTokens {
  access_token: string;
  scope: string;
  patient?: string;
  refresh_token?: string;
  id_token?: string;
}

/**
 * A person's tokens through the real flow: authorize page, sign-in form,
 * consent form (optionally unticking scopes), code exchange with PKCE.
 */
export async function signIn(app: FastifyInstance, flow: { clientId: string; username: string; scope: string; untick?: string[]; patient?: string }): Promise<UserTokens> {
  const { location, verifier } = await authorize(app, { ...flow, password: PASSWORD });
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  const res = await exchangeCode(app, code, verifier, flow.clientId);
  if (res.statusCode !== 200) throw new Error(`code exchange failed: ${res.statusCode} ${res.body}`);
  return res.json() as UserTokens;
}

/** A professional's `Bearer` header, signed in through the professionals' app. */
export async function professionalBearer(app: FastifyInstance, username: string, scope = 'user/*.cruds'): Promise<string> {
  return `Bearer ${(await signIn(app, { clientId: APPS.pro, username, scope })).access_token}`;
}

/** The holder's `Bearer` header, signed in through her own app. */
export async function holderBearer(app: FastifyInstance, username: string, scope = 'launch/patient patient/*.cruds'): Promise<string> {
  return `Bearer ${(await signIn(app, { clientId: APPS.holder, username, scope })).access_token}`;
}

export interface CatalogueServer {
  app: FastifyInstance;
  /** The catalogue administrator's header (`system/*.rs`, kind admin). */
  adminAuth: string;
  /** A care institution's software (`system/*.cruds`), and its header. */
  system: TestClient;
  systemAuth: string;
}

/**
 * A server whose clients are the catalogue's administrator and one care
 * institution's software, and no app yet (the test registers its own), with
 * one patient, Patient/ines, who has an account (`ines`, PASSWORD).
 */
export async function buildCatalogueServer(t: Tap, prefix: string, options: { config?: Partial<Config> } = {}): Promise<CatalogueServer> {
  const dataDir = await tempDir(t, prefix);
  const admin = await createTestClient({ clientId: 'catalogue-admin', kind: 'admin', scope: 'system/*.rs' });
  const system = await createTestClient({ clientId: 'dpi', scope: 'system/*.cruds' });
  const clientsFile = await writeClientsFile(dataDir, [admin, system]);
  const app = await buildServer({ config: loadConfig({}, { dataDir, clientsFile, publicUrl: 'http://carnet.test', logLevel: 'silent', ...options.config }), logger: false });
  t.teardown(() => app.close());
  await app.ready();
  const adminAuth = await bearer(app, admin, 'system/*.rs');
  const systemAuth = await bearer(app, system, 'system/*.cruds');
  const put = await app.inject({
    method: 'PUT', url: '/fhir/Patient/ines', headers: { authorization: systemAuth, 'content-type': FHIR_JSON },
    payload: { resourceType: 'Patient', id: 'ines', name: [{ family: 'Moreau', given: ['Inès'] }] },
  });
  if (put.statusCode !== 201) throw new Error(`Patient/ines: ${put.statusCode} ${put.body}`);
  await app.carnetAuth.accounts.create({ username: 'ines', passwordHash: await passwordHash(), kind: 'patient', fhirUser: 'Patient/ines', patients: ['ines'] });
  return { app, adminAuth, system, systemAuth };
}

/** Creates a resource as the system client; returns its id. */
export async function seed(space: SpaceServer, resource: Record<string, unknown>): Promise<string> {
  const res = await space.app.inject({
    method: 'POST', url: `/fhir/${String(resource.resourceType)}`,
    headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON }, payload: resource,
  });
  if (res.statusCode !== 201) throw new Error(`seeding ${String(resource.resourceType)} failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

/** Replaces a resource as the system client. */
export async function seedUpdate(space: SpaceServer, resource: Record<string, unknown> & { id: string }): Promise<void> {
  const res = await space.app.inject({
    method: 'PUT', url: `/fhir/${String(resource.resourceType)}/${resource.id}`,
    headers: { authorization: await space.systemAuth(), 'content-type': FHIR_JSON }, payload: resource,
  });
  if (res.statusCode !== 200) throw new Error(`updating ${String(resource.resourceType)} failed: ${res.statusCode} ${res.body}`);
}

export function practitioner(family: string): Record<string, unknown> {
  return { resourceType: 'Practitioner', name: [{ family, given: ['Dr'] }] };
}

export function patient(family: string, generalPractitioner?: string, birthDate = '1980-02-14'): Record<string, unknown> {
  return {
    resourceType: 'Patient', name: [{ family, given: ['Test'] }], gender: 'female', birthDate,
    ...(generalPractitioner ? { generalPractitioner: [{ reference: generalPractitioner }] } : {}),
  };
}

/** A privacy Consent of `patient`: permit or deny naming `actor`, or refusing emergency access (purpose BTG). */
export function privacyConsent(patientRef: string, type: 'permit' | 'deny', options: { actor?: string; purpose?: 'BTG' }): Record<string, unknown> {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patientRef },
    dateTime: new Date().toISOString(),
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: type === 'permit' ? 'OPTIN' : 'OPTOUT' }] },
    provision: {
      type,
      ...(options.actor ? { actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: options.actor } }] } : {}),
      ...(options.purpose ? { purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: options.purpose }] } : {}),
    },
  };
}

export function observation(patientRef: string, category: 'vital-signs' | 'laboratory', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Observation', status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: category === 'vital-signs'
      ? { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] }
      : { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] },
    subject: { reference: patientRef },
    effectiveDateTime: '2026-01-10T08:00:00Z',
    ...(category === 'vital-signs' ? { valueQuantity: { value: 62, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } } : { valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } }),
    ...extra,
  };
}

/** A DocumentReference of `patient`, with a visibility label when given. */
export function document(patientRef: string, label?: string, description = label ?? 'plain'): Record<string, unknown> {
  return {
    resourceType: 'DocumentReference', status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consultation note' }] },
    subject: { reference: patientRef },
    date: '2026-01-10T08:00:00Z',
    description,
    ...(label ? { securityLabel: [{ coding: [{ system: VISIBILITY, code: label }] }] } : {}),
    content: [{ attachment: { contentType: 'text/plain', url: 'http://example.org/doc.txt', title: description } }],
  };
}

/** References of everyone in the demo space built by `buildSpace`. */
export interface Space extends SpaceServer {
  doctor: string;
  otherPro: string;
  permittedPro: string;
  careTeamPro: string;
  blockedPro: string;
  /** The holder: Patient with `doctor` as regular doctor. */
  alice: string;
  /** Another patient (another compartment), without a regular doctor, who refused emergency access. */
  bob: string;
  /** A minor whose space `parent` manages. */
  minor: string;
  parent: string;
  /** Usernames by role. */
  users: { alice: string; parent: string; doctor: string; otherPro: string; permittedPro: string; careTeamPro: string; blockedPro: string; bob: string };
}

/**
 * A health space: a holder (alice) with her regular doctor, a care team
 * member, a professional she permitted, one she blocked (although he also
 * holds a permit), a professional without any consent, a deny Consent naming
 * the regular doctor (which cannot block him), another patient (bob), and a
 * minor managed by a legal representative; bob refused emergency access. Every person gets an account.
 */
export async function buildSpace(t: Tap, options: { config?: Partial<Config>; apps?: RegisteredClient[] } = {}): Promise<Space> {
  const server = await buildSpaceServer(t, options);
  const doctor = `Practitioner/${await seed(server, practitioner('Traitant'))}`;
  const otherPro = `Practitioner/${await seed(server, practitioner('Inconnu'))}`;
  const permittedPro = `Practitioner/${await seed(server, practitioner('Consenti'))}`;
  const careTeamPro = `Practitioner/${await seed(server, practitioner('Equipe'))}`;
  const blockedPro = `Practitioner/${await seed(server, practitioner('Bloque'))}`;
  const alice = `Patient/${await seed(server, patient('Alice', doctor))}`;
  const bob = `Patient/${await seed(server, patient('Bob'))}`;
  const minor = `Patient/${await seed(server, patient('Mineur', doctor, '2015-06-01'))}`;
  const parent = `RelatedPerson/${await seed(server, {
    resourceType: 'RelatedPerson', active: true, patient: { reference: minor },
    relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH' }] }],
    name: [{ family: 'Mineur', given: ['Parent'] }],
  })}`;
  await seed(server, {
    resourceType: 'CareTeam', status: 'active', subject: { reference: alice },
    participant: [{ member: { reference: careTeamPro } }],
  });
  await seed(server, privacyConsent(alice, 'permit', { actor: permittedPro }));
  await seed(server, privacyConsent(alice, 'permit', { actor: blockedPro }));
  await seed(server, privacyConsent(alice, 'deny', { actor: blockedPro }));
  await seed(server, privacyConsent(alice, 'deny', { actor: doctor }));
  await seed(server, privacyConsent(bob, 'deny', { purpose: 'BTG' }));

  const users = {
    alice: 'alice', bob: 'bob', parent: 'parent', doctor: 'doctor', otherPro: 'other-pro',
    permittedPro: 'permitted-pro', careTeamPro: 'care-team-pro', blockedPro: 'blocked-pro',
  };
  const accounts = server.app.carnetAuth.accounts;
  await accounts.create({ username: users.alice, passwordHash: await passwordHash(), kind: 'patient', fhirUser: alice });
  await accounts.create({ username: users.bob, passwordHash: await passwordHash(), kind: 'patient', fhirUser: bob });
  await accounts.create({ username: users.parent, passwordHash: await passwordHash(), kind: 'related-person', fhirUser: parent, patients: [minor.slice(8)] });
  for (const [key, ref] of [['doctor', doctor], ['otherPro', otherPro], ['permittedPro', permittedPro], ['careTeamPro', careTeamPro], ['blockedPro', blockedPro]] as const) {
    await accounts.create({ username: users[key], passwordHash: await passwordHash(), kind: 'practitioner', fhirUser: ref });
  }
  return { ...server, doctor, otherPro, permittedPro, careTeamPro, blockedPro, alice, bob, minor, parent, users };
}

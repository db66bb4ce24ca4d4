import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Bundle, BundleEntry, DocumentReference } from '@medplum/fhirtypes';
import { FhirError } from '../../src/errors.js';
import type { Principal } from '../../src/auth/principal.js';
import { checkDocumentWrite, withAbsoluteAttachments } from '../../src/space/documents/document-rules.js';
import type { DocumentWrite } from '../../src/space/documents/document-rules.js';
import { checkProvideDocumentBundle, isProvideDocumentBundle, listKind, normalisePatient, placeBinaries } from '../../src/space/documents/provide-bundle.js';
import { assertStructure, validateResourceDetailed } from '../../src/fhir/validation/validate.js';
import { buildTestServer } from '../helpers/server.js';
import { CLASS_SYSTEM, DOCPAT_SYSTEM, VISIBILITY, provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * The document rules (space/documents/document-rules.ts) and the ITI-65 checks
 * (provide-bundle.ts) run before structural validation, so any JSON value can
 * reach every field they read. Whatever a client puts there: never a 500. The
 * rules step aside for what they cannot read, so the client gets the structure
 * validator's own answer (400 FHIR_ERR_VALIDATION_STRUCTURE naming the field);
 * the ITI-65 check names a wrong type itself (422 FHIR_ERR_MHD_PROVIDE_BUNDLE).
 * A refused write stores nothing: no version, no blob.
 */

const FHIR = 'application/fhir+json';
const FHIR_BASE = 'http://carnet.test/fhir';
const IS_ARCHIVED = 'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/PDSm_isArchived';

/** An object JSON.parse can build that String(), a template literal or RegExp#test cannot turn into text. */
const unprintable = (): unknown => JSON.parse('{"toString":1,"valueOf":2}');

/** Every JSON type, and the shapes one level down that a rule might index into. */
const HOSTILE: Array<[string, () => unknown]> = [
  ['null', () => null],
  ['0', () => 0],
  ['42', () => 42],
  ['true', () => true],
  ['""', () => ''],
  ['"x"', () => 'x'],
  ['[]', () => []],
  ['{}', () => ({})],
  ['unprintable object', unprintable],
  ['[null]', () => [null]],
  ['[0]', () => [0]],
  ['["x"]', () => ['x']],
  ['[[]]', () => [[]]],
  ['[unprintable]', () => [unprintable()]],
];

type Path = Array<string | number>;
const show = (p: Path) => p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').replace(/^\./, '');

/** Sets `value` at `p`, creating the containers on the way. */
function setAt(root: unknown, p: Path, value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (let i = 0; i < p.length - 1; i++) {
    const key = p[i]!;
    if (!node[key] || typeof node[key] !== 'object') node[key] = typeof p[i + 1] === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  node[p[p.length - 1]!] = value;
}

function principal(kind: Principal['kind']): Principal {
  return { kind, clientId: 'c', subject: 's', scopes: [], scope: '', tokenId: 't', expiresAt: Date.now() + 60_000, ...(kind === 'patient' ? { patient: 'p', fhirUser: 'Patient/p' } : {}) };
}

/** A document the patient added: every field the rules read is present, with the systems they look for. */
function patientDocument(): DocumentReference {
  return {
    resourceType: 'DocumentReference', id: 'd', status: 'current',
    meta: { versionId: '1', security: [{ system: VISIBILITY, code: 'INVISIBLE_REPRESENTANTS_LEGAUX' }] },
    type: { coding: [{ system: DOCPAT_SYSTEM, code: 'DOCPAT01' }] },
    category: [{ coding: [{ system: CLASS_SYSTEM, code: '90' }] }],
    subject: { reference: 'Patient/p' },
    securityLabel: [{ coding: [{ system: VISIBILITY, code: 'MASQUE_PS' }] }],
    extension: [{ url: IS_ARCHIVED, valueBoolean: false }],
    content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b1' } }],
  };
}

/** A professional's document, with a TRE_A05 coding too, so the DOCPAT test reads its code. */
function professionalDocument(): DocumentReference {
  const doc = patientDocument();
  doc.type = { coding: [{ system: 'http://loinc.org', code: '11488-4' }, { system: DOCPAT_SYSTEM, code: 'OTHER' }] };
  doc.category = [{ coding: [{ system: CLASS_SYSTEM, code: '10' }] }];
  return doc;
}

/** Every field document-rules.ts reads, at each depth. */
const RULE_PATHS: Path[] = [
  ['type'], ['type', 'coding'], ['type', 'coding', 0], ['type', 'coding', 0, 'system'], ['type', 'coding', 0, 'code'], ['type', 'coding', 1, 'code'],
  ['category'], ['category', 0], ['category', 0, 'coding'], ['category', 0, 'coding', 0], ['category', 0, 'coding', 0, 'system'], ['category', 0, 'coding', 0, 'code'],
  ['content'], ['content', 0], ['content', 0, 'attachment'], ['content', 0, 'attachment', 'url'],
  ['securityLabel'], ['securityLabel', 0], ['securityLabel', 0, 'coding'], ['securityLabel', 0, 'coding', 0], ['securityLabel', 0, 'coding', 0, 'system'], ['securityLabel', 0, 'coding', 0, 'code'],
  ['meta'], ['meta', 'security'], ['meta', 'security', 0], ['meta', 'security', 0, 'system'], ['meta', 'security', 0, 'code'],
  ['extension'], ['extension', 0], ['extension', 0, 'url'], ['extension', 0, 'valueBoolean'],
  ['status'], ['text'],
];

/** Runs `fn`; anything but a return or a 4xx FhirError is reported. */
function outcomeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof FhirError && err.statusCode >= 400 && err.statusCode < 500) return undefined;
    return err instanceof Error ? `${err.name}: ${err.message}` : 'non-Error thrown';
  }
}

t.test('document rules: no JSON value in any field they read makes them throw anything but a 4xx', async (t) => {
  const modes: Array<[string, (base: () => DocumentReference, hostile: DocumentReference) => DocumentWrite]> = [
    ['POST', (_base, hostile) => ({ method: 'POST', next: hostile })],
    ['PUT over a valid version', (base, hostile) => ({ method: 'PUT', next: hostile, current: base() })],
    ['PATCH over a valid version', (base, hostile) => ({ method: 'PATCH', next: hostile, current: base() })],
    ['PUT over a hostile version', (base, hostile) => ({ method: 'PUT', next: base(), current: hostile })],
    ['PATCH over a hostile version', (base, hostile) => ({ method: 'PATCH', next: base(), current: hostile })],
    ['DELETE a hostile version', (_base, hostile) => ({ method: 'DELETE', current: hostile })],
  ];
  for (const kind of ['system', 'practitioner', 'patient', 'related-person', 'app'] as const) {
    for (const [baseName, base] of [['patient document', patientDocument], ['professional document', professionalDocument]] as const) {
      for (const [mode, write] of modes) {
        const failures: string[] = [];
        for (const p of RULE_PATHS) {
          for (const [name, value] of HOSTILE) {
            const hostile = base();
            setAt(hostile, p, value());
            const failure = outcomeOf(() => checkDocumentWrite(principal(kind), write(base, hostile), FHIR_BASE));
            if (failure) failures.push(`${show(p)} = ${name}: ${failure}`);
          }
        }
        t.same(failures, [], `${kind}, ${baseName}, ${mode}`);
      }
    }
  }
});

t.test('withAbsoluteAttachments leaves any content it cannot read as it is', async (t) => {
  for (const [name, value] of HOSTILE) {
    const doc = { ...patientDocument(), content: value() } as unknown as DocumentReference;
    t.doesNotThrow(() => withAbsoluteAttachments(doc, FHIR_BASE), `content = ${name}`);
    const inner = patientDocument();
    setAt(inner, ['content', 0, 'attachment', 'url'], value());
    t.equal(withAbsoluteAttachments(inner, FHIR_BASE).content, inner.content, `attachment.url = ${name}: untouched`);
  }
  t.equal(withAbsoluteAttachments(patientDocument(), FHIR_BASE).content[0]!.attachment.url, `${FHIR_BASE}/Binary/b1`, 'a Binary/id url still becomes absolute');
});

type ProvideBundle = Bundle & { entry: BundleEntry[] };
/** Every field provide-bundle.ts reads; the fixture's entries are List, DocumentReference, Binary. */
const PROVIDE_PATHS: Path[] = [
  ['meta'], ['meta', 'profile'], ['meta', 'profile', 0], ['entry', 0], ['entry', 0, 'fullUrl'], ['entry', 0, 'resource'],
  ...[
    ['code'], ['code', 'coding'], ['code', 'coding', 0], ['code', 'coding', 0, 'system'], ['code', 'coding', 0, 'code'],
    ['extension'], ['extension', 0], ['extension', 0, 'url'], ['extension', 0, 'valueIdentifier'], ['extension', 0, 'valueIdentifier', 'value'], ['extension', 0, 'valueUri'],
    ['identifier'], ['identifier', 0], ['identifier', 0, 'value'], ['identifier', 1, 'value'],
    ['subject'], ['subject', 'reference'], ['entry'], ['entry', 0], ['entry', 0, 'item'], ['entry', 0, 'item', 'reference'],
    ['status'], ['mode'], ['date'], ['id'],
  ].map((p) => ['entry', 0, 'resource', ...p]),
  ['entry', 1, 'fullUrl'],
  ...[
    ['status'], ['type'], ['type', 'coding'], ['type', 'coding', 0], ['type', 'coding', 0, 'system'], ['type', 'coding', 0, 'code'],
    ['masterIdentifier'], ['masterIdentifier', 'value'], ['date'], ['author'], ['subject'], ['subject', 'reference'],
    ['content'], ['content', 0], ['content', 0, 'format'], ['content', 0, 'format', 'system'], ['content', 0, 'format', 'code'],
    ['content', 0, 'attachment'], ['content', 0, 'attachment', 'url'], ['content', 0, 'attachment', 'contentType'],
    ['content', 0, 'attachment', 'size'], ['content', 0, 'attachment', 'hash'],
    ['relatesTo'], ['relatesTo', 0], ['relatesTo', 0, 'target'], ['relatesTo', 0, 'target', 'reference'],
    ['category'], ['category', 0, 'coding'], ['securityLabel'],
  ].map((p) => ['entry', 1, 'resource', ...p]),
  ['entry', 2, 'fullUrl'], ['entry', 2, 'resource', 'contentType'], ['entry', 2, 'resource', 'data'], ['entry', 2, 'resource', 'securityContext'], ['entry', 2, 'resource', 'securityContext', 'reference'],
];

/** A relatesTo `replaces` around the hostile target, so the replacement step reads it too. */
function hostileBundle(p: Path, value: unknown): ProvideBundle {
  const bundle = provideBundle('Patient/p65');
  if (show(p).includes('relatesTo[0].target.reference')) setAt(bundle, ['entry', 1, 'resource', 'relatesTo'], [{ code: 'replaces', target: {} }]);
  setAt(bundle, p, value);
  return bundle;
}

t.test('provide-bundle checks: no JSON value in any field they read makes them throw', async (t) => {
  const failures: string[] = [];
  for (const p of PROVIDE_PATHS) {
    for (const [name, value] of HOSTILE) {
      const bundle = hostileBundle(p, value());
      try {
        isProvideDocumentBundle(bundle);
        for (const e of bundle.entry) if (e && typeof e === 'object' && e.resource && typeof e.resource === 'object') listKind(e.resource);
        checkProvideDocumentBundle(bundle, FHIR_BASE);
        placeBinaries(bundle);
      } catch (err) {
        failures.push(`${show(p)} = ${name}: ${String(err)}`);
      }
    }
  }
  t.same(failures, []);
  for (const [name, value] of HOSTILE) {
    t.equal(normalisePatient(value() as string, FHIR_BASE), undefined, `normalisePatient(${name})`);
  }
  t.equal(normalisePatient(`${FHIR_BASE}/Patient/p65`, FHIR_BASE), 'Patient/p65');
});

/** The cases of the bug report: refused by the ITI-65 check itself, naming the field. */
const NAMED: Array<[string, Path, unknown, string]> = [
  ['Binary contentType 7', ['entry', 2, 'resource', 'contentType'], 7, 'Bundle.entry[2].resource.contentType'],
  ['attachment.url 42', ['entry', 1, 'resource', 'content', 0, 'attachment', 'url'], 42, 'Bundle.entry[1].resource.content[0].attachment.url'],
  ['attachment.contentType 42', ['entry', 1, 'resource', 'content', 0, 'attachment', 'contentType'], 42, 'Bundle.entry[1].resource.content[0].attachment.contentType'],
  ['List.entry[0].item.reference 42', ['entry', 0, 'resource', 'entry', 0, 'item', 'reference'], 42, 'Bundle.entry[0].resource.entry[0].item'],
  ['List.subject.reference 42', ['entry', 0, 'resource', 'subject', 'reference'], 42, 'Bundle.entry[0].resource.subject'],
  ['DocumentReference.subject.reference 42', ['entry', 1, 'resource', 'subject', 'reference'], 42, 'Bundle.entry[1].resource.subject'],
  ['DocumentReference.content "x"', ['entry', 1, 'resource', 'content'], 'x', 'Bundle.entry[1].resource.content'],
  ['DocumentReference.content {}', ['entry', 1, 'resource', 'content'], {}, 'Bundle.entry[1].resource.content'],
  ['DocumentReference.type.coding 0', ['entry', 1, 'resource', 'type', 'coding'], 0, 'Bundle.entry[1].resource.type'],
  ['List.extension not an array', ['entry', 0, 'resource', 'extension'], { url: 'x' }, 'Bundle.entry[0].resource.extension'],
  ['List.identifier not an array', ['entry', 0, 'resource', 'identifier'], 'urn:oid:1.2.3', 'Bundle.entry[0].resource.identifier'],
  ['List.entry not an array', ['entry', 0, 'resource', 'entry'], 5, 'Bundle.entry[0].resource.entry'],
  ['List.identifier value unprintable', ['entry', 0, 'resource', 'identifier', 0, 'value'], unprintable(), 'Bundle.entry[0].resource.identifier'],
  ['attachment.size unprintable', ['entry', 1, 'resource', 'content', 0, 'attachment', 'size'], unprintable(), 'Bundle.entry[1].resource.content[0].attachment.size'],
  ['Binary securityContext 42', ['entry', 2, 'resource', 'securityContext'], 42, 'Bundle.entry[2].resource.securityContext'],
  ['relatesTo target reference 42', ['entry', 1, 'resource', 'relatesTo', 0, 'target', 'reference'], 42, 'Bundle.entry[1].resource.relatesTo[0].target.reference'],
];

t.test('provide-bundle checks name the field of a wrong JSON type', async (t) => {
  for (const [name, p, value, where] of NAMED) {
    const issues = checkProvideDocumentBundle(hostileBundle(p, value), FHIR_BASE);
    t.ok(issues.some((i) => i.expression?.some((e) => e.startsWith(where))), `${name}: an issue at ${where} (got ${JSON.stringify(issues.map((i) => i.expression))})`);
  }
});

type Answer = { statusCode: number; body: string; headers: Record<string, unknown> };
type Outcome = { resourceType?: string; issue?: Array<{ expression?: string[]; details?: { coding?: Array<{ code?: string }> } }> };
const outcomeCode = (res: Answer): string | undefined => {
  try {
    const body = JSON.parse(res.body) as Outcome;
    return body.resourceType === 'OperationOutcome' ? (body.issue?.[0]?.details?.coding?.[0]?.code ?? '') : undefined;
  } catch {
    return undefined;
  }
};
/** A refusal as the rules promise it: 4xx, an OperationOutcome, FHIR JSON. */
const isRefusal = (res: Answer) => res.statusCode >= 400 && res.statusCode < 500 && outcomeCode(res) !== undefined && /^application\/fhir\+json/.test(String(res.headers['content-type']));
const brief = (res: Answer) => `${res.statusCode} ${res.body.slice(0, 160)}`;

/**
 * The structure validator's own answer for a resource, with no document rule
 * in front: what the server must answer when the rules let a write through.
 */
function validatorAnswer(resource: unknown): { status: 400 | 422; code: string } | undefined {
  const { issues, malformed } = validateResourceDetailed(resource);
  if (!issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) return undefined;
  return malformed ? { status: 400, code: 'FHIR_ERR_VALIDATION_STRUCTURE' } : { status: 422, code: 'FHIR_ERR_VALIDATION_RULE' };
}

/**
 * Hostile values that leave a valid Bundle: an empty meta, a profile "x" (a
 * valid canonical). Without the MHD profile the Bundle is a plain transaction,
 * rightly accepted.
 */
const STILL_FHIR_JSON = new Set(['meta = {}', 'meta.profile = ["x"]']);

/** Whether the Bundle itself, not the resources in it, is FHIR JSON (the server checks that first). */
function containerIsFhirJson(bundle: unknown): boolean {
  try {
    assertStructure(bundle as Record<string, unknown>);
    return true;
  } catch {
    return false;
  }
}

/** Shapes that are not FHIR JSON (a non-object where a complex type is expected): the structure validator refuses them. */
const VALIDATOR_GAP = 'no wrong JSON type is stored (a non-object where a complex type, or an array item of one, is expected)';

/** Wrong JSON types sent over HTTP: one of each kind, and the array items a rule might index into. */
const HTTP_VALUES = HOSTILE.filter(([name]) => ['null', '42', 'true', '{}', 'unprintable object', '[null]', '[0]', '["x"]'].includes(name));
/** `true` is no wrong type for a boolean. */
const isWrongFor = (p: Path, name: string) => !(name === 'true' && p[p.length - 1] === 'valueBoolean');

/** A valid professional DocumentReference, with every field the rules read; `n` makes its masterIdentifier unique. */
function professionalDocumentOverHttp(n: number): DocumentReference {
  return {
    resourceType: 'DocumentReference', status: 'current',
    masterIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:oid:1.2.250.1.999.77.${n}` },
    type: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] },
    category: [{ coding: [{ system: CLASS_SYSTEM, code: '10' }] }],
    subject: { reference: 'Patient/p65' },
    securityLabel: [{ coding: [{ system: VISIBILITY, code: 'INVISIBLE_REPRESENTANTS_LEGAUX' }] }],
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] },
    extension: [{ url: IS_ARCHIVED, valueBoolean: false }],
    content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b1' } }],
  };
}
const REST_PATHS = RULE_PATHS.filter((p) => !['status', 'text'].includes(String(p[0])) && !(p[0] === 'meta' && p.length === 1) && show(p) !== 'type.coding[1].code');

/** Every wrong JSON value of every REST path, set in a fresh professional document, with the validator's own answer to it. */
function* hostileDocuments(): Generator<{ n: number; where: string; hostile: DocumentReference; expected: ReturnType<typeof validatorAnswer> }> {
  let n = 0;
  for (const p of REST_PATHS) {
    for (const [name, value] of HTTP_VALUES.filter(([name]) => isWrongFor(p, name))) {
      const hostile = professionalDocumentOverHttp(++n);
      setAt(hostile, p, value());
      yield { n, where: `${show(p)} = ${name}`, hostile, expected: validatorAnswer(hostile) };
    }
  }
}

/** The whole server with a patient, a practitioner and one stored document (`DocumentReference/hostile-base`). */
async function documentServer(t: Parameters<typeof buildTestServer>[0]) {
  const { app, auth, dataDir } = await buildTestServer(t);
  const authorization = await auth('system/*.cruds');
  const headers = { authorization, 'content-type': FHIR };
  const put = (url: string, payload: unknown) => app.inject({ method: 'PUT', url: `/fhir/${url}`, headers, payload: payload as object });
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url: `/fhir/${url}`, headers, payload: payload as object });
  const get = (url: string) => app.inject({ url: `/fhir/${url}`, headers: { authorization } });
  const resetBase = async () => {
    const res = await put('DocumentReference/hostile-base', { ...professionalDocumentOverHttp(0), id: 'hostile-base' });
    if (res.statusCode >= 300) throw new Error(`cannot store the base document: ${res.body}`);
  };
  // Binary/b1: a document names, as content, only a local Binary that exists (space/documents/document-content.ts).
  for (const [url, body] of [['Patient/p65', { resourceType: 'Patient', id: 'p65', name: [{ family: 'Durand' }] }], ['Practitioner/dr-martin', { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] }], ['Binary/b1', { resourceType: 'Binary', id: 'b1', contentType: 'application/pdf', data: 'JVBERg==' }]] as const) {
    const res = await put(url, body);
    if (res.statusCode >= 300) throw new Error(`cannot store ${url}: ${res.body}`);
  }
  await resetBase();
  const history = async (type: string) => {
    const res = await get(`${type}/_history?_count=1000`);
    return res.statusCode === 200 ? ((res.json().entry ?? []) as unknown[]).length : -1;
  };
  const blobFiles = async () => (await readdir(path.join(dataDir, 'blobs')).catch(() => [] as string[])).length;
  /** How many current DocumentReferences carry this masterIdentifier. */
  const byMaster = async (value: string) => ((await get(`DocumentReference?identifier=${encodeURIComponent(value)}`)).json().entry ?? []).length as number;
  const versionOf = async (url: string) => {
    const res = await get(url);
    return res.statusCode === 200 ? String(res.json().meta?.versionId) : String(res.statusCode);
  };
  return { app, authorization, headers, put, post, history, blobFiles, byMaster, versionOf, resetBase };
}

t.test('over HTTP: DocumentReference create, update, update-as-create get the validator\'s own answer, never a 500', async (t) => {
  const { put, post, byMaster, versionOf, resetBase } = await documentServer(t);
  const failures: string[] = [];
  const gaps: string[] = [];
  for (const { n, where: at, hostile, expected } of hostileDocuments()) {
    const baseVersion = await versionOf('DocumentReference/hostile-base');
    const answers: Array<[string, Answer, () => Promise<boolean>]> = [
      ['POST', await post('DocumentReference', hostile), async () => (await byMaster(hostile.masterIdentifier!.value!)) === 0],
      ['PUT existing', await put('DocumentReference/hostile-base', { ...hostile, id: 'hostile-base' }), async () => (await versionOf('DocumentReference/hostile-base')) === baseVersion],
      ['PUT new', await put(`DocumentReference/hostile-${n}`, { ...hostile, id: `hostile-${n}` }), async () => (await versionOf(`DocumentReference/hostile-${n}`)) === '404'],
    ];
    for (const [how, res, nothingWritten] of answers) {
      const where = `${how} ${at}`;
      // Replacing a stored document whole may change only what a metadata update may (PDSm): a body that the
      // validator refuses for a broken rule (422) may be refused first for that (422 too); a malformed one gets the 400.
      const pdsm = how === 'PUT existing' && expected?.status === 422 && res.statusCode === 422 && outcomeCode(res) === 'FHIR_ERR_DOC_PATCH_FIELD';
      if (res.statusCode >= 500) failures.push(`${where}: ${brief(res)}`);
      else if (expected && !pdsm && (res.statusCode !== expected.status || outcomeCode(res) !== expected.code || !isRefusal(res))) failures.push(`${where}: expected ${expected.status} ${expected.code}, got ${brief(res)}`);
      else if (!expected) gaps.push(`${where}: ${res.statusCode}`);
      if (res.statusCode >= 400 && !(await nothingWritten())) failures.push(`${where}: refused, yet written`);
    }
    if (!expected) await resetBase();
  }
  t.same(failures, []);
  t.same(gaps, [], VALIDATOR_GAP);
});

t.test('over HTTP: the four bodies of the bug report get 400 FHIR_ERR_VALIDATION_STRUCTURE naming the field', async (t) => {
  const { put, post, versionOf } = await documentServer(t);
  const cases: Array<[Path, unknown, string]> = [
    [['type', 'coding'], 0, 'DocumentReference.type.coding'],
    [['category'], 5, 'DocumentReference.category'],
    [['category', 0, 'coding'], 'x', 'DocumentReference.category[0].coding'],
    [['content'], 'x', 'DocumentReference.content'],
  ];
  for (const [p, value, where] of cases) {
    const hostile = professionalDocumentOverHttp(1);
    setAt(hostile, p, value);
    for (const [how, res] of [['POST', await post('DocumentReference', hostile)], ['PUT', await put('DocumentReference/hostile-base', { ...hostile, id: 'hostile-base' })]] as const) {
      t.equal(res.statusCode, 400, `${how} ${where}: ${res.body.slice(0, 200)}`);
      t.match(res.headers['content-type'], /^application\/fhir\+json/);
      t.match(res.json(), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', expression: [where], details: { coding: [{ code: 'FHIR_ERR_VALIDATION_STRUCTURE' }] } }] }, `${how} ${where}`);
    }
  }
  t.equal(await versionOf('DocumentReference/hostile-base'), '1', 'the stored document is untouched');
});

t.test('over HTTP: a PATCH to a wrong type is never a 500, and a refused one writes nothing', async (t) => {
  const { app, authorization, versionOf, resetBase } = await documentServer(t);
  const failures: string[] = [];
  for (const p of REST_PATHS) {
    for (const [name, value] of HTTP_VALUES.filter(([name]) => isWrongFor(p, name))) {
      const before = await versionOf('DocumentReference/hostile-base');
      const res = await app.inject({ method: 'PATCH', url: '/fhir/DocumentReference/hostile-base', headers: { authorization, 'content-type': 'application/json-patch+json' }, payload: JSON.stringify([{ op: 'add', path: `/${p.join('/')}`, value: value() }]) });
      if (res.statusCode >= 500 || (res.statusCode >= 400 && !isRefusal(res))) failures.push(`${show(p)} = ${name}: ${brief(res)}`);
      if (res.statusCode >= 400 && (await versionOf('DocumentReference/hostile-base')) !== before) failures.push(`${show(p)} = ${name}: a refused patch left a version`);
      if (res.statusCode < 300) await resetBase();
    }
  }
  t.same(failures, []);
});

t.test('over HTTP: a plain transaction with such a DocumentReference gets the validator\'s answer and writes nothing', async (t) => {
  const { post, byMaster, blobFiles } = await documentServer(t);
  const failures: string[] = [];
  const gaps: string[] = [];
  for (const { where, hostile, expected } of hostileDocuments()) {
    const blobs = await blobFiles();
    const res = await post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: hostile, request: { method: 'POST', url: 'DocumentReference' } }] });
    if (res.statusCode >= 500) failures.push(`${where}: ${brief(res)}`);
    else if (expected && (res.statusCode !== expected.status || !isRefusal(res))) failures.push(`${where}: expected ${expected.status}, got ${brief(res)}`);
    else if (!expected) gaps.push(`${where}: ${res.statusCode}`);
    if (res.statusCode >= 400 && ((await byMaster(hostile.masterIdentifier!.value!)) !== 0 || (await blobFiles()) !== blobs)) failures.push(`${where}: refused, yet written`);
  }
  t.same(failures, []);
  t.same(gaps, [], VALIDATOR_GAP);
});

t.test('over HTTP: an ITI-65 Provide Bundle with a wrong type is refused (400 when the Bundle itself is not FHIR JSON, else 422 naming the field when the ITI-65 check sees it), never a 500, nothing stored', async (t) => {
  const { post, history, blobFiles, byMaster } = await documentServer(t);
  const valid = await post('', provideBundle('Patient/p65'));
  t.equal(valid.statusCode, 200, `the untouched fixture is accepted: ${valid.body.slice(0, 300)}`);
  const versions = async () => ({ documents: await history('DocumentReference'), lists: await history('List'), binaries: await history('Binary') });
  const before = await versions();
  const failures: string[] = [];
  const gaps: string[] = [];
  let accepted = 0;
  // A create ignores the id the client sent (http.html#create); an unprintable one is checked below.
  for (const p of PROVIDE_PATHS.filter((p) => show(p) !== 'entry[0].resource.id')) {
    for (const [name, value] of HTTP_VALUES) {
      const bundle = hostileBundle(p, value());
      const master = (bundle.entry[1]!.resource as DocumentReference).masterIdentifier?.value;
      const notFhirJson = !containerIsFhirJson(bundle);
      const issues = checkProvideDocumentBundle(structuredClone(bundle), FHIR_BASE);
      const invalidEntry = bundle.entry.some((e) => e && typeof e === 'object' && validatorAnswer(e.resource) !== undefined);
      const blobs = await blobFiles();
      const res = await post('', bundle);
      const where = `${show(p)} = ${name}`;
      if (res.statusCode < 300) accepted++;
      if (res.statusCode >= 500) failures.push(`${where}: ${brief(res)}`);
      else if (notFhirJson && (res.statusCode !== 400 || outcomeCode(res) !== 'FHIR_ERR_VALIDATION_STRUCTURE' || !isRefusal(res))) failures.push(`${where}: expected 400 FHIR_ERR_VALIDATION_STRUCTURE (the Bundle itself), got ${brief(res)}`);
      else if (!notFhirJson && issues.length && (res.statusCode !== 422 || outcomeCode(res) !== 'FHIR_ERR_MHD_PROVIDE_BUNDLE' || !isRefusal(res))) failures.push(`${where}: expected 422 FHIR_ERR_MHD_PROVIDE_BUNDLE, got ${brief(res)}`);
      else if (!notFhirJson && !issues.length && invalidEntry && !isRefusal(res)) failures.push(`${where}: expected the validator's refusal, got ${brief(res)}`);
      else if (!notFhirJson && !issues.length && !invalidEntry && !STILL_FHIR_JSON.has(where)) gaps.push(`${where}: ${res.statusCode}`);
      if (res.statusCode >= 400) {
        if ((await blobFiles()) !== blobs) failures.push(`${where}: refused, yet a blob file was kept`);
        if (typeof master === 'string' && (await byMaster(master)) !== 0) failures.push(`${where}: refused, yet its DocumentReference was stored`);
      }
    }
  }
  t.same(failures, []);
  // Each accepted Provide Bundle writes one List, one DocumentReference and one Binary; refused ones write nothing.
  t.same(await versions(), { documents: before.documents + accepted, lists: before.lists + accepted, binaries: before.binaries + accepted }, 'no version but those of accepted Bundles');
  t.same(gaps, [], VALIDATOR_GAP);
  const bundle = provideBundle('Patient/p65');
  setAt(bundle, ['entry', 0, 'resource', 'id'], unprintable());
  const res = await post('', bundle);
  t.ok(res.statusCode < 500, `an unprintable entry id: ${brief(res)}`);
});

t.test('over HTTP: the ITI-65 cases of the bug report get 422 FHIR_ERR_MHD_PROVIDE_BUNDLE naming the field, nothing stored', async (t) => {
  const { post, history, blobFiles } = await documentServer(t);
  const stored = async () => ({ documents: await history('DocumentReference'), lists: await history('List'), binaries: await history('Binary'), blobs: await blobFiles() });
  for (const [name, p, value, where] of NAMED) {
    const before = await stored();
    const res = await post('', hostileBundle(p, value));
    t.equal(res.statusCode, 422, `${name}: ${res.body.slice(0, 300)}`);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
    const outcome = res.json() as Outcome;
    t.equal(outcome.resourceType, 'OperationOutcome');
    t.equal(outcome.issue?.[0]?.details?.coding?.[0]?.code, 'FHIR_ERR_MHD_PROVIDE_BUNDLE', name);
    t.ok(outcome.issue?.some((i) => i.expression?.some((e) => e.startsWith(where))), `${name}: names ${where}`);
    t.same(await stored(), before, `${name}: nothing stored`);
  }
});

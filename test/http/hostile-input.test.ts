import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildTestServer } from '../helpers/server.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { APPS, buildSpaceServer, PASSWORD, passwordHash, signIn } from '../helpers/people.js';
import { provideBundle } from '../fixtures/mhd/provide-bundle.js';

/**
 * Hostile input: a deterministic, seeded generator of bad requests (paths,
 * query strings, headers, bodies, Binaries, Bundles, MHD Provide Bundles, OAuth
 * forms), most of them mutated from valid requests so that they get deep into
 * the server. For every answer: never a 5xx; a 4xx on a FHIR path is an
 * OperationOutcome with an issue (OAuth endpoints: an RFC 6749 error); a write
 * that fails (a transaction above all) leaves no version and no blob.
 *
 * Every failure prints the seed, the stream and case number, the request and
 * the answer. Another seed: `HOSTILE_SEED=1234 npx tap test/http/hostile-input.test.ts`.
 * The last part holds focused regression tests for what the generator found.
 */

const SEED = (Number(process.env.HOSTILE_SEED ?? 0x5eed2026) >>> 0) || 1;
const SEED_TEXT = `0x${SEED.toString(16)}`;
const FHIR = 'application/fhir+json';
const FORM = 'application/x-www-form-urlencoded';
const PATCH_JSON = 'application/json-patch+json';
const TAG = 'urn:carnet:hostile';
/** Small limits, so that bodies near and beyond them stay cheap. */
const LIMITS = { bodyLimit: 256 * 1024, binaryMaxBytes: 64 * 1024, bundleMaxEntries: 40 };

// ---------------------------------------------------------------------------
// Generator: seeded PRNG, hostile values, mutations
// ---------------------------------------------------------------------------

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** One PRNG per case (seed, stream, case number): a case does not depend on how many numbers earlier cases drew. */
class Gen {
  private readonly next: () => number;
  constructor(stream: string, n: number) {
    this.next = seededRandom(hash32(`${SEED}:${stream}:${n}`));
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]!; }
  some<T>(items: readonly T[], max: number): T[] { return Array.from({ length: 1 + this.int(max) }, () => this.pick(items)); }
}

type Json = Record<string, unknown>;

/** A string value replaced, once serialised, by this raw JSON token (numbers JSON.stringify cannot write). */
const RAW = '\u0001raw:';
const raw = (token: string) => `${RAW}${token}`;
function serialise(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    // Mutations can put a deep value inside another, deeper than JSON.stringify's stack goes (seed 31337).
    if (!(err instanceof RangeError)) throw err;
    text = stringifyWithoutRecursion(value);
  }
  return text.replace(/"\\u0001raw:((?:[^"\\]|\\.)*)"/g, (_m, token: string) => JSON.parse(`"${token}"`) as string);
}

/** JSON.stringify's text for plain JSON values, nested as deep as memory allows. */
function stringifyWithoutRecursion(root: unknown): string {
  class Text { constructor(readonly text: string) {} }
  const out: string[] = [];
  const work: unknown[] = [root];
  const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';
  while (work.length > 0) {
    const item = work.pop();
    if (item instanceof Text) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      // Pushed in reverse: the open bracket is popped first.
      work.push(new Text(']'));
      for (let i = item.length - 1; i >= 0; i--) {
        work.push(omitted(item[i]) ? null : item[i]);
        if (i > 0) work.push(new Text(','));
      }
      work.push(new Text('['));
    } else if (item !== null && typeof item === 'object') {
      const entries = Object.entries(item).filter(([, v]) => !omitted(v));
      work.push(new Text('}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        work.push(entries[i]![1], new Text(`${JSON.stringify(entries[i]![0])}:`));
        if (i > 0) work.push(new Text(','));
      }
      work.push(new Text('{'));
    } else {
      out.push(JSON.stringify(item) ?? 'null');
    }
  }
  return out.join('');
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', '\u0000', 'é', '😀', '\uD800', '<script>alert(1)</script>', '%', '%E0%A4%A', '../../etc/passwd', '\\', '"', "'", '${x}',
  'null', 'true', '0', '-1', 'NaN', 'Patient/', '#', 'urn:uuid:', 'x'.repeat(70), 'y'.repeat(20_000), '\r\n', 'a\tb', '2020-13-45',
  'http://example.invalid/fhir/Patient/1', 'Patient?identifier=', 'constructor', '__proto__', 'toString', 'hasOwnProperty',
];
const HOSTILE_RAW_JSON: readonly string[] = ['1e400', '-1e400', '-0', '123456789012345678901234567890', '1e-400', '0.0000000000000000000001', '9007199254740993'];
const REFERENCE_GARBAGE: readonly string[] = [
  'Patient/', '#', '#missing', 'urn:uuid:4f4a3b52-0000-4000-8000-000000000000', 'urn:uuid:', 'urn:oid:1.2.3', 'Patient?identifier=',
  `Patient?identifier=${TAG}|nobody`, `Patient?identifier=${TAG}|dup`, 'Patient?', 'Unicorn/1', 'patient/1', 'Patient/a b', 'Patient/../x',
  'http://carnet.test/fhir/Patient/nobody', 'http://example.invalid/Patient/1', 'Patient/1/_history/x', '', ' ', '/Patient/1', 'Patient//1',
  'Binary/nobody', `Patient/${'z'.repeat(65)}`,
];

/** Nested `levels` deep: objects ({extension: ...}) or arrays. */
function deepValue(levels: number, arrays: boolean): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < levels; i++) v = arrays ? [v] : { extension: v };
  return v;
}

/** Any JSON value, hostile by preference: type confusion, nulls, empties, huge or deep values. */
function hostileValue(g: Gen, depth = 0): unknown {
  switch (g.int(depth > 2 ? 8 : 11)) {
    case 0: return g.pick(HOSTILE_STRINGS);
    case 1: return g.pick([0, -1, 1.5, 2 ** 53 + 2, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300]);
    case 2: return raw(g.pick(HOSTILE_RAW_JSON));
    case 3: return g.chance(0.5);
    case 4: return null;
    case 5: return g.pick([{}, [], [null], [{}], [[]], '']);
    case 6: return deepValue(g.pick([50, 500, 2500]), g.chance(0.5));
    case 7: return { resourceType: g.pick(['Patient', 'Unicorn', '', 'Bundle']) };
    case 8: return Array.from({ length: 1 + g.int(3) }, () => hostileValue(g, depth + 1));
    case 9: return Object.fromEntries(Array.from({ length: 1 + g.int(3) }, () => [g.pick(['value', 'reference', 'url', 'id', 'extension', 'x', 'constructor', 'coding']), hostileValue(g, depth + 1)]));
    default: return { reference: g.pick(REFERENCE_GARBAGE) };
  }
}

/** Type confusion: the same value as another JSON type. */
function flipType(g: Gen, value: unknown): unknown {
  if (typeof value === 'string') return g.pick([Number(value) || 7, [value], { value }, value === '' ? null : value.repeat(2000)]);
  if (typeof value === 'number') return g.pick([String(value), [value], { value }, raw('1e400')]);
  if (typeof value === 'boolean') return g.pick([String(value), value ? 1 : 0, [value]]);
  if (Array.isArray(value)) return g.pick([value[0] ?? {}, {}, 'x', value.length]);
  if (value && typeof value === 'object') return g.pick([[value], 'x', 1, Object.values(value)]);
  return g.pick(['x', 1, {}, []]);
}

type JsonPath = Array<string | number>;

/** Every path into a value, down to 12 levels (generated values can be thousands deep). */
function pathsOf(value: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  if (prefix.length >= 12) return out;
  if (Array.isArray(value)) value.forEach((v, i) => { out.push([...prefix, i]); pathsOf(v, [...prefix, i], out); });
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) { out.push([...prefix, k]); pathsOf(v, [...prefix, k], out); }
  return out;
}

function parentOf(root: unknown, p: JsonPath): Record<string | number, unknown> | undefined {
  let cur: unknown = root;
  for (const k of p.slice(0, -1)) cur = (cur as Record<string | number, unknown> | undefined)?.[k];
  return cur && typeof cur === 'object' ? (cur as Record<string | number, unknown>) : undefined;
}

/** A few mutations of a valid resource; the elements FHIR cares most about are hit often. */
function mutateResource(g: Gen, resource: Json, count = 1 + g.int(3)): Json {
  const out = clone(resource);
  for (let i = 0; i < count; i++) {
    switch (g.int(12)) {
      case 0: out.resourceType = g.pick([undefined, '', 'Unicorn', 'patient', 42, ['Patient'], 'Observation', 'Bundle', 'OperationOutcome']); break;
      case 1: out.id = g.pick(['', 'bad id', 'x'.repeat(65), 42, null, {}, 'é', '..', 'ok-id']); break;
      case 2: out.meta = g.pick([
        'x', [], null, {}, { versionId: {} }, { lastUpdated: 'yesterday' }, { profile: ['not a url'] }, { profile: 'x' },
        { profile: ['http://unknown.invalid/StructureDefinition/x'] }, { security: [{ system: 42 }] }, { tag: [{}] }, { tag: 'x' },
        { versionId: '99', lastUpdated: '1900-01-01T00:00:00Z' }, { extension: [{ url: 42 }] },
      ]); break;
      case 3: out[g.pick(['unknownElement', 'constructor', '_birthDate', '_gender', 'text', 'contained', 'extension', 'modifierExtension', 'implicitRules', 'language'])] = hostileValue(g); break;
      case 4: out.contained = g.pick([[{}], [{ resourceType: 'Patient' }], [{ resourceType: 'Patient', id: 'c1', contained: [{ resourceType: 'Patient', id: 'c2' }] }], 'x', [null], [{ resourceType: 'Unicorn', id: 'u' }]]); break;
      case 5: out.text = g.pick([{ status: 'generated', div: '<div>no xmlns</div>' }, { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>' }, { div: 42 }, 'x']); break;
      default: {
        const paths = pathsOf(out);
        if (!paths.length) break;
        const p = g.pick(paths);
        const parent = parentOf(out, p);
        if (!parent) break;
        const key = p[p.length - 1]!;
        const op = g.int(6);
        if (op === 0) delete parent[key];
        else if (op === 1) parent[key] = null;
        else if (op === 2 && typeof key === 'string' && /reference|url/.test(key)) parent[key] = g.pick(REFERENCE_GARBAGE);
        else if (op === 3) parent[key] = flipType(g, parent[key]);
        else parent[key] = hostileValue(g);
      }
    }
  }
  return out;
}

/** Bodies that are not resources: broken JSON, JSON that is not an object, odd encodings. */
const RAW_BODIES: readonly string[] = [
  '', ' ', '{', '}', '{"resourceType": "Patient",', '[]', '[1,2]', '42', '"Patient"', 'null', 'true', '\u0000', '\uFEFF{"resourceType":"Patient"}',
  '{"resourceType":"Patient"} trailing', '{"resourceType":"Patient","resourceType":"Observation"}', '{"__proto__":{"admin":true},"resourceType":"Patient"}',
  '{"resourceType":"Patient","constructor":{"prototype":{"x":1}}}', '{"resourceType":"Patient","gender":"\\ud800"}', `{"resourceType":"Patient"${' '.repeat(5000)}}`,
  '{"resourceType":"Patient","birthDate":1e400}', "{'resourceType':'Patient'}", '{"resourceType":"Patient",}', 'resourceType=Patient', '<Patient xmlns="http://hl7.org/fhir"/>',
];

function jsonPatch(g: Gen): unknown {
  const valid: Json[] = [
    { op: 'replace', path: '/gender', value: 'male' }, { op: 'add', path: '/name/-', value: { family: 'X' } }, { op: 'remove', path: '/telecom' },
    { op: 'test', path: '/gender', value: 'female' }, { op: 'copy', from: '/name/0', path: '/name/-' }, { op: 'move', from: '/address', path: '/contact' },
    { op: 'replace', path: '/status', value: 'amended' },
  ];
  if (g.chance(0.15)) return g.pick([{}, 'x', 42, null, [null], [[]], [1], { op: 'add' }, deepValue(1000, true)]);
  const ops = Array.from({ length: 1 + g.int(3) }, () => clone(g.pick(valid)));
  for (const op of ops) {
    if (!g.chance(0.5)) continue;
    switch (g.int(6)) {
      case 0: op.op = g.pick(['', 'ADD', 'delete', 42, null, '_get', 'toString']); break;
      case 1: op.path = g.pick(['', '/', '/id', '/resourceType', '/meta/versionId', '/name/999', '/name/-1', '~', '/a~2b', '/name/0/given/x', 'name', 42, '/__proto__/x', '/constructor/prototype']); break;
      case 2: op.value = hostileValue(g); break;
      case 3: op.from = g.pick(['', '/nope', '/id', '/name/99', 42, 'name']); break;
      case 4: delete op.value; break;
      default: op.extra = 'x';
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------
// Query-string material
// ---------------------------------------------------------------------------

const MODIFIERS: readonly string[] = ['', '', '', ':exact', ':contains', ':missing', ':not', ':above', ':below', ':in', ':not-in', ':text', ':identifier', ':of-type', ':Patient', ':Unicorn', ':patient', ':', '::', ':iterate', ':recurse', ':exact:exact'];
const PARAMS_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  Patient: ['name', 'family', 'given', 'identifier', 'birthdate', 'gender', 'general-practitioner', 'organization', 'address', 'telecom', 'active', 'deceased', 'link', 'phonetic', 'death-date'],
  Observation: ['code', 'subject', 'patient', 'date', 'value-quantity', 'category', 'status', 'code-value-quantity', 'combo-code', 'performer', 'component-code-value-quantity', 'value-string', 'value-concept', 'based-on', 'has-member'],
  DocumentReference: ['patient', 'subject', 'type', 'status', 'date', 'period', 'category', 'security-label', 'format', 'author', 'relatesto', 'identifier', 'creation', 'contenttype', 'relation', 'related', 'sourceId'],
  List: ['patient', 'subject', 'code', 'status', 'identifier', 'designationType', 'sourceId', 'date', 'item', 'source'],
  AuditEvent: ['patient', 'agent', 'date', 'entity', 'type', 'outcome'],
  Binary: ['_id', '_lastUpdated'],
};
const COMMON_PARAMS: readonly string[] = ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text', '_content', '_list', '_query', '_filter', 'unknown-param', '__proto__', 'constructor', ''];
const VALUES: readonly string[] = [
  'foo', '', ' ', 'ge', 'gt', 'sa', 'ap', 'eb', 'ne', 'gefoo', 'ge2020', 'gt2020-01-01', 'sa2020', 'ap2020-06', 'le1980-02-14', 'eq1980', '2020-13-45', '2020-02-30',
  '9999-12-31T23:59:60Z', '0000', '-2020', '2020-01-01T25:00', '2020-01-01T10:00:00+14:01', '1e309', 'NaN', 'Infinity', '-', '|', '||', 'a|b|c', 'http://example.invalid|',
  '|code', '\\', '\\,', ',', ',,', '$', 'a$b$c', 'ge5$kg', '5|http://unitsofmeasure.org|kg', 'ap5||kg', 'Patient/', 'Patient/x/_history/1', 'urn:uuid:x',
  'http://carnet.test/fhir/Patient/hostile-p1', 'Patient/hostile-p1', 'hostile-p1', 'http://loinc.org|29463-7', 'true', 'false', 'maybe', 'x'.repeat(3000), 'é😀', '%00', '%',
  '%E0%A4%A', '+', '*', 'null', 'http://hl7.org/fhir/ValueSet/administrative-gender', 'http://unknown.invalid/ValueSet/x', `${TAG}|dup`, 'http://loinc.org|29463-7|62',
  'http://terminology.hl7.org/CodeSystem/v2-0203|MR|123', 'Patient?name=x', 'gt-1', 'ap0', 'lt1e400', 'durand', 'Dur', 'female',
];
const RESULT_PARAMS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['_count', ['-1', '1e9', 'abc', '0', '999999999', '1000000000', '', '1.5', '0x10', ' 1', '01', '2']],
  ['_sort', ['', '-', '--name', 'name,-birthdate', 'unknown', '_id', '-_lastUpdated', 'constructor', '__proto__', 'code-value-quantity', '_text', ',', 'date,date', '_score', 'identifier']],
  ['_include', ['*', 'Observation:foo', 'Observation:subject', 'Observation:subject:Patient', 'Observation:subject:Unicorn', 'Observation', ':', '::', 'Patient:general-practitioner', 'Observation:*', '*:*', 'Unicorn:x', 'DocumentReference:subject', 'a:b:c:d']],
  ['_include:iterate', ['*', 'Observation:subject', 'Patient:general-practitioner', 'Patient:link', 'Observation:foo']],
  ['_include:recurse', ['Patient:link']],
  ['_include:foo', ['Observation:subject']],
  ['_revinclude', ['*', 'Observation:subject', 'Observation:patient', 'Provenance:target', 'AuditEvent:patient', 'Observation:foo', 'DocumentReference:subject', 'List:item']],
  ['_revinclude:iterate', ['Observation:has-member', '*']],
  ['_summary', ['true', 'text', 'data', 'count', 'false', 'maybe', '', 'TRUE']],
  ['_elements', ['id', 'name,gender', '', ',', 'Patient.name', 'a.b.c', '*', '__proto__', 'meta', 'valueQuantity', 'value[x]', 'name.family']],
  ['_format', ['json', 'xml', 'application/fhir+json', 'text/html', 'garbage', '', 'application/fhir+json;q=0', 'ttl', 'application/json', 'JSON']],
  ['_type', ['Patient', 'Patient,Observation', 'Unicorn', '', ',', 'patient', 'AuditEvent', '*', 'Patient,Patient']],
  ['_total', ['none', 'estimate', 'accurate', 'garbage', '']],
  ['_cursor', ['', 'garbage', '%00', 'MjAyMC0wMS0wMVQwMDowMDowMFp8', 'x'.repeat(5000), '////', '0']],
  ['_pretty', ['true', 'garbage']],
];
const TYPE_VALUES = RESULT_PARAMS.find(([name]) => name === '_type')![1];
const HAS_NAMES: readonly string[] = [
  '_has:Observation:patient:code', '_has:Observation:subject:_has:Provenance:target:agent', '_has:', '_has:Observation', '_has:Observation:patient',
  '_has:Unicorn:x:y', '_has:Observation:code:code', '_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code',
  '_has:DocumentReference:patient:status', '_has:Observation:patient:unknown', '_has:Observation:subject:code:exact', '_has:AuditEvent:patient:type',
];
const CHAIN_NAMES: readonly string[] = [
  'subject.name', 'subject:Patient.name', 'subject:Unicorn.name', 'subject.unknown', 'patient.general-practitioner.name', 'a.b.c.d.e.f.g', 'subject.', '.name',
  'subject:Patient.name:exact', 'code.x', 'subject:Patient.general-practitioner:Practitioner.name', 'patient.identifier', 'subject._id', 'subject:Patient._has:Observation:patient:code',
  'subject.organization.partof.partof.partof.partof.name', 'author.given', 'author.family', 'patient.identifier:of-type',
];

/** Percent-encoded most of the time; sometimes sent raw, stray percent signs and all. */
function queryValue(g: Gen, value: string): string {
  return g.chance(0.2) ? value.replace(/[ #&]/g, encodeURIComponent) : encodeURIComponent(value);
}

function paramsOf(type: string | undefined): readonly string[] {
  const own = type && Object.hasOwn(PARAMS_BY_TYPE, type) ? PARAMS_BY_TYPE[type]! : PARAMS_BY_TYPE.Patient!;
  return type ? [...own, ...COMMON_PARAMS] : COMMON_PARAMS;
}

function queryString(g: Gen, type: string | undefined, cursors: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0, n = 1 + g.int(4); i < n; i++) {
    const kind = g.int(10);
    let name: string;
    let value: string;
    if (kind < 4) {
      name = g.pick(paramsOf(type)) + g.pick(MODIFIERS);
      value = g.pick(VALUES);
    } else if (kind < 7) {
      const [param, values] = g.pick(RESULT_PARAMS);
      name = param;
      value = param === '_cursor' && cursors.length && g.chance(0.5) ? mangleCursor(g, g.pick(cursors)) : g.pick(values);
    } else if (kind < 8) {
      name = g.pick(HAS_NAMES);
      value = g.pick(VALUES);
    } else if (kind < 9) {
      name = g.pick(CHAIN_NAMES);
      value = g.pick(VALUES);
    } else {
      name = g.pick(['', '=', '&', '%', '%E0%A4%A', '_', ':', 'name:missing', 'x'.repeat(300)]);
      value = g.pick(VALUES);
    }
    parts.push(g.chance(0.05) ? name : `${g.chance(0.9) ? encodeURIComponent(name) : name}=${queryValue(g, value)}`);
    if (g.chance(0.1)) parts.push(parts[parts.length - 1]!);
  }
  return parts.join(g.chance(0.05) ? '&&' : '&');
}

/** A real paging cursor, damaged. */
function mangleCursor(g: Gen, cursor: string): string {
  switch (g.int(6)) {
    case 0: return cursor.slice(0, Math.max(1, cursor.length - 1 - g.int(5)));
    case 1: return cursor + g.pick(['A', '=', '%', '..', '|x']);
    case 2: return cursor.split('').reverse().join('');
    case 3: return Buffer.from(Buffer.from(cursor, 'base64url').toString('utf8').replace(/\d/, '9'), 'utf8').toString('base64url');
    case 4: return Buffer.from(`${Buffer.from(cursor, 'base64url').toString('utf8')}|extra|${'z'.repeat(g.int(100))}`).toString('base64url');
    default: return encodeURIComponent(cursor).replace(/%/g, '%25');
  }
}

// ---------------------------------------------------------------------------
// Valid resources to start from
// ---------------------------------------------------------------------------

/** The patient every template points at (the system run's fixture). */
const PATIENT_ID = 'hostile-p1';

function patientResource(marker: string): Json {
  return {
    resourceType: 'Patient',
    identifier: [{ system: TAG, value: marker }, { system: 'urn:oid:1.2.250.1.213.1.4.8', value: '285017512345678' }],
    name: [{ family: 'Durand', given: ['Hélène'] }], gender: 'female', birthDate: '1980-02-14',
    telecom: [{ system: 'phone', value: '+33 1 23 45 67 89' }], address: [{ city: 'Lyon', postalCode: '69001' }],
    generalPractitioner: [{ reference: 'Practitioner/dr-martin' }],
  };
}

function observationResource(marker: string, patient: string, subject = `Patient/${patient}`): Json {
  return {
    resourceType: 'Observation', status: 'final', identifier: [{ system: TAG, value: marker }],
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
    subject: { reference: subject }, effectiveDateTime: '2026-01-10T08:00:00Z',
    valueQuantity: { value: 62, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

function documentResource(marker: string, patient: string): Json {
  return {
    resourceType: 'DocumentReference', status: 'current', identifier: [{ system: TAG, value: marker }],
    type: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consultation note' }] },
    subject: { reference: `Patient/${patient}` }, date: '2026-01-10T08:00:00Z', description: 'hostile',
    content: [{ attachment: { contentType: 'text/plain', url: 'http://example.invalid/doc.txt', title: 'doc' } }],
  };
}

function consentResource(marker: string, patient: string): Json {
  return {
    resourceType: 'Consent', status: 'active', identifier: [{ system: TAG, value: marker }],
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` }, dateTime: '2026-01-10T08:00:00Z',
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: { type: 'permit', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: 'Practitioner/dr-martin' } }] },
  };
}

/** Websocket channel only: a generated Subscription must never make the server call out. */
function subscriptionResource(patient: string): Json {
  return { resourceType: 'Subscription', status: 'requested', reason: 'hostile', criteria: `Observation?patient=${patient}`, channel: { type: 'websocket' } };
}

const SUBSCRIPTION_GARBAGE: readonly Json[] = [
  { criteria: '' }, { criteria: 'Observation' }, { criteria: 'Observation?' }, { criteria: 'Unicorn?x=1' }, { criteria: 'Observation?subject.name=x' },
  { criteria: 'Observation?_has:Observation:patient:code=x' }, { criteria: 'Observation?_include=*' }, { criteria: 'Observation?code:in=http://unknown.invalid/vs' },
  { criteria: 42 }, { criteria: 'http://carnet.test/fhir/Observation?code=x' }, { channel: { type: 'email', endpoint: 'mailto:x@example.invalid' } },
  { channel: { type: 'websocket', header: [42] } }, { channel: 'x' }, { channel: { type: 'rest-hook' } }, { channel: { type: 'rest-hook', endpoint: 'ftp://example.invalid/x' } },
];

function template(type: string, marker: string, patient: string): Json {
  switch (type) {
    case 'Observation': return observationResource(marker, patient);
    case 'DocumentReference': return documentResource(marker, patient);
    case 'Consent': return consentResource(marker, patient);
    case 'Subscription': return subscriptionResource(patient);
    case 'List': return { resourceType: 'List', status: 'current', mode: 'working', identifier: [{ system: TAG, value: marker }], subject: { reference: `Patient/${patient}` }, entry: [{ item: { reference: `Patient/${patient}` } }] };
    case 'Practitioner': return { resourceType: 'Practitioner', identifier: [{ system: TAG, value: marker }], name: [{ family: 'Martin' }] };
    case 'AuditEvent': return { resourceType: 'AuditEvent', type: { code: 'rest' }, recorded: '2026-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'x' } } };
    default: return patientResource(marker);
  }
}

// ---------------------------------------------------------------------------
// Request generators
// ---------------------------------------------------------------------------

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** What the generators need to know about the server they attack. */
interface Target {
  /** The patient of the space (id). */
  patient: string;
  /** Ids that exist, per type (no prototype: generated types such as `constructor` find nothing). */
  ids: Record<string, string[]>;
  cursors: string[];
  /** Authorization header of the principal under test, and others to mix in. */
  authorization: string;
  others: string[];
}

const REAL_TYPES: readonly string[] = ['Patient', 'Observation', 'DocumentReference', 'Binary', 'List', 'Practitioner', 'Subscription', 'Consent', 'AuditEvent', 'Communication', 'Bundle', 'Parameters', 'OperationOutcome'];
const ODD_TYPES: readonly string[] = ['Unicorn', 'patient', 'PATIENT', '', '%50atient', 'Patient%00', 'Resource', 'DomainResource', 'constructor', '__proto__', '$validate', 'metadata'];
const ODD_IDS: readonly string[] = ['unknown-id', 'x'.repeat(64), 'x'.repeat(65), 'é', '..', '%2e%2e', '%E0%A4%A', '%00', 'a%2Fb', '%20', '-', '.', '1', PATIENT_ID];
const OPERATIONS: readonly string[] = ['$validate', '$everything', '$meta', '$unknown', '$deliveries', '%24validate', '$', '$validate/extra', '$expunge'];

function idsOf(target: Target, type: string): string[] {
  return Object.hasOwn(target.ids, type) ? target.ids[type]! : [];
}

function anyType(g: Gen): string {
  return g.chance(0.85) ? g.pick(REAL_TYPES) : g.pick(ODD_TYPES);
}

function anyId(g: Gen, target: Target, type: string): string {
  const known = idsOf(target, type);
  return known.length && g.chance(0.6) ? g.pick(known) : g.pick(ODD_IDS);
}

function someAuthorization(g: Gen, target: Target): string {
  return g.chance(0.9) || !target.others.length ? target.authorization : g.pick(target.others);
}

/** A resource body for `type`: mutated most of the time, sometimes not a resource at all. */
function bodyFor(g: Gen, target: Target, type: string, id?: string): string {
  if (g.chance(0.15)) return g.pick(RAW_BODIES);
  let resource: Json = { ...template(type, `gen-${g.int(1e9)}`, target.patient), ...(id ? { id } : {}) };
  if (type === 'Subscription' && g.chance(0.5)) resource = { ...resource, ...g.pick(SUBSCRIPTION_GARBAGE) };
  return serialise(g.chance(0.8) ? mutateResource(g, resource) : resource);
}

/** Any method on any path shape under /fhir. */
function pathsCase(g: Gen, target: Target): Sent {
  const type = anyType(g);
  const id = anyId(g, target, type);
  const vid = g.pick(['1', '2', '-1', 'x', '0', '99999999999', '1.5', '', '%00']);
  const shapes = [
    '', '/', '/metadata', '/_search', '/_history', '/.well-known/smart-configuration', `/${type}`, `/${type}/`, `/${type}/${id}`, `/${type}/${id}/`,
    `/${type}/${id}/_history`, `/${type}/${id}/_history/${vid}`, `/${type}/_history`, `/${type}/_search`, `/${type}/${g.pick(OPERATIONS)}`, `/${type}/${id}/${g.pick(OPERATIONS)}`,
    `/${type}/${id}/${g.pick(['extra', '_history/1/extra', '..', '%2e%2e/x'])}`, `//${type}`, `/${type}//${id}`, `/${type}/${id}/_history/x`, '/subscriptions/ws',
  ];
  const method = g.pick(['GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
  const url = `/fhir${g.pick(shapes)}${g.chance(0.2) ? `?${queryString(g, type, target.cursors)}` : ''}`;
  const headers: Record<string, string> = { authorization: someAuthorization(g, target) };
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return { method, url, headers };
  const patch = method === 'PATCH' && g.chance(0.7);
  headers['content-type'] = patch ? PATCH_JSON : FHIR;
  return { method, url, headers, payload: patch ? serialise(jsonPatch(g)) : bodyFor(g, target, type, method === 'PUT' ? id : undefined) };
}

/** Searches: GET and POST _search forms, system level, histories with paging parameters. */
function searchCase(g: Gen, target: Target): Sent {
  const type = g.pick(['Patient', 'Patient', 'Observation', 'Observation', 'DocumentReference', 'List', 'Binary', 'AuditEvent']);
  const query = queryString(g, type, target.cursors);
  const headers: Record<string, string> = { authorization: someAuthorization(g, target) };
  if (g.chance(0.2)) headers.prefer = g.pick(['handling=strict', 'handling=lenient', 'handling=garbage']);
  if (g.chance(0.05)) headers['x-ihe-transaction'] = g.pick(['ITI-67', 'ITI-66', 'garbage']);
  const where = g.int(10);
  if (where < 6) return { method: 'GET', url: `/fhir/${type}?${query}`, headers };
  if (where < 8) {
    // The same criteria as a form body (search.html#search-post), sometimes with a query string too.
    headers['content-type'] = g.pick([FORM, `${FORM}; charset=utf-8`, `${FORM}; charset=latin1`]);
    return { method: 'POST', url: `/fhir/${type}/_search${g.chance(0.3) ? `?${queryString(g, type, target.cursors)}` : ''}`, headers, payload: query };
  }
  if (where < 9) return { method: 'GET', url: `/fhir/${g.pick(['', '_history'])}?${g.chance(0.5) ? `_type=${encodeURIComponent(g.pick(TYPE_VALUES))}&` : ''}${query}`, headers };
  const paging = ['_since', '_at', '_count', '_cursor'];
  const values = [...VALUES, ...target.cursors.map((c) => mangleCursor(g, c))];
  const instance = g.chance(0.5) ? `${anyId(g, target, type)}/` : '';
  return { method: 'GET', url: `/fhir/${type}/${instance}_history?${g.pick(paging)}=${queryValue(g, g.pick(values))}&${g.pick(paging)}=${queryValue(g, g.pick(VALUES))}`, headers };
}

/** Creates, updates, conditional updates, patches and $validate with mutated bodies. */
function bodiesCase(g: Gen, target: Target, n: number): { req: Sent; type: string } {
  const type = g.pick(['Patient', 'Patient', 'Observation', 'Observation', 'DocumentReference', 'DocumentReference', 'Consent', 'Subscription', 'List', 'Practitioner', 'AuditEvent']);
  const known = idsOf(target, type);
  const id = known.length && g.chance(0.5) ? g.pick(known) : `gen-${n}`;
  const headers: Record<string, string> = { authorization: someAuthorization(g, target), 'content-type': FHIR };
  if (g.chance(0.1)) headers.prefer = g.pick(['return=OperationOutcome', 'return=minimal', 'return=representation']);
  switch (g.int(8)) {
    case 0: case 1: case 2:
      if (g.chance(0.15)) headers['if-none-exist'] = g.pick([`identifier=${TAG}|dup`, `identifier=${TAG}|gen-${n}`, '_id=nobody', 'garbage=1', '']);
      return { type, req: { method: 'POST', url: `/fhir/${type}`, headers, payload: bodyFor(g, target, type) } };
    case 3: case 4:
      return { type, req: { method: 'PUT', url: `/fhir/${type}/${id}`, headers, payload: bodyFor(g, target, type, g.chance(0.9) ? id : `other-${n}`) } };
    case 5: {
      const criteria = g.pick([`identifier=${encodeURIComponent(`${TAG}|dup`)}`, `identifier=${encodeURIComponent(`${TAG}|cu-${n}`)}`, `_id=${id}`, 'garbage=1', '', 'name:exact=Durand']);
      return { type, req: { method: 'PUT', url: `/fhir/${type}?${criteria}`, headers, payload: bodyFor(g, target, type, g.chance(0.3) ? id : undefined) } };
    }
    case 6: {
      const patchHeaders: Record<string, string> = { authorization: headers.authorization!, 'content-type': PATCH_JSON };
      if (g.chance(0.2)) patchHeaders['if-match'] = g.pick(['W/"1"', 'W/"x"', '*']);
      return { type, req: { method: 'PATCH', url: `/fhir/${type}/${id}`, headers: patchHeaders, payload: serialise(jsonPatch(g)) } };
    }
    default: {
      const resource = g.chance(0.85) ? safeJson(bodyFor(g, target, type)) : undefined;
      const parameter = g.pick([
        [{ name: 'resource', resource }], [{ name: 'resource' }], [{ name: 'mode', valueCode: g.pick(['create', 'update', 'delete', 'garbage']) }, { name: 'resource', resource }],
        'x', [null], [{}], 42, [{ name: 'profile', valueUri: g.pick(['http://unknown.invalid/sd', '', 'x']) }, { name: 'resource', resource }],
      ]);
      const body = g.chance(0.4) ? { resourceType: 'Parameters', parameter } : resource;
      const query = g.chance(0.3) ? `?${g.pick(['mode=create', 'mode=garbage', 'mode=update&mode=delete', 'profile=x', 'profile=http://hl7.org/fhir/StructureDefinition/vitalsigns'])}` : '';
      return { type, req: { method: 'POST', url: `/fhir/${type}/${g.chance(0.3) ? `${id}/` : ''}$validate${query}`, headers, payload: body === undefined ? g.pick(RAW_BODIES) : serialise(body) } };
    }
  }
}

/** A batch or transaction, built from valid entries and then broken in a few places. */
function bundleCase(g: Gen, target: Target, n: number): unknown {
  if (g.chance(0.05)) return g.pick([...RAW_BODIES, serialise({ resourceType: 'Bundle' }), serialise({ resourceType: 'Bundle', type: 'transaction', entry: {} }), serialise({ resourceType: 'Bundle', type: 'batch', entry: 'x' })]);
  const { patient } = target;
  const urn = (i: number) => `urn:uuid:${String(n).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const marker = (i: number) => `bundle-${n}-${i}`;
  const somePatient = () => g.pick(idsOf(target, 'Patient').length ? idsOf(target, 'Patient') : [patient]);
  const valid = (i: number): Json => {
    switch (g.int(11)) {
      case 0: case 1: return { fullUrl: urn(i), resource: patientResource(marker(i)), request: { method: 'POST', url: 'Patient' } };
      case 2: return { fullUrl: urn(i), resource: observationResource(marker(i), patient, g.chance(0.5) ? urn(Math.max(0, i - 1)) : `Patient/${patient}`), request: { method: 'POST', url: 'Observation' } };
      case 3: { const id = g.chance(0.5) ? somePatient() : `tx-${n}-${i}`; return { resource: { ...patientResource(marker(i)), id }, request: { method: 'PUT', url: `Patient/${id}` } }; }
      case 4: return { resource: patientResource(marker(i)), request: { method: 'PUT', url: `Patient?identifier=${encodeURIComponent(`${TAG}|${g.pick(['dup', marker(i), 'p1'])}`)}` } };
      case 5: return { request: { method: 'DELETE', url: g.pick([`Observation/${g.pick(idsOf(target, 'Observation').length ? idsOf(target, 'Observation') : ['nobody'])}`, `Patient?identifier=${TAG}|nobody`, `Patient?identifier=${TAG}|dup`, 'Observation/nobody']) } };
      case 6: return { resource: { resourceType: 'Binary', contentType: PATCH_JSON, data: Buffer.from(serialise(jsonPatch(g))).toString('base64') }, request: { method: 'PATCH', url: `Patient/${somePatient()}` } };
      case 7: return { request: { method: g.pick(['GET', 'HEAD']), url: g.pick([`Patient/${patient}`, `Binary/${g.pick(idsOf(target, 'Binary').length ? idsOf(target, 'Binary') : ['nobody'])}`, 'Patient?name=durand', `Observation?${queryString(g, 'Observation', target.cursors)}`, 'metadata', '_history', 'subscriptions/ws', '../auth/authorize', '../health', 'Patient/$validate', `Patient/${patient}/_history/1`, '%E0%A4%A', 'Patient/é']) } };
      case 8: return { fullUrl: urn(i), resource: { resourceType: 'Binary', contentType: g.pick(['text/plain', 'application/pdf', FHIR]), data: Buffer.from(`bytes ${n} ${i}`).toString('base64') }, request: { method: 'POST', url: 'Binary' } };
      case 9: return { fullUrl: urn(i), resource: documentResource(marker(i), patient), request: { method: 'POST', url: 'DocumentReference', ...(g.chance(0.3) ? { ifNoneExist: g.pick([`identifier=${TAG}|${marker(i)}`, `identifier=${TAG}|dup`, 'garbage=1', '?']) } : {}) } };
      default: return { fullUrl: urn(i), resource: { ...observationResource(marker(i), patient), subject: { reference: g.pick([`Patient?identifier=${TAG}|nobody`, `Patient?identifier=${TAG}|dup`, `Patient?identifier=${TAG}|p1`, 'Patient?garbage', `Patient?_id=${patient}`]) } }, request: { method: 'POST', url: 'Observation' } };
    }
  };
  const entries: unknown[] = Array.from({ length: 1 + g.int(6) }, (_, i) => valid(i));
  for (let k = 0, m = g.int(4); k < m; k++) {
    const e = g.pick(entries) as Json;
    if (!e || typeof e !== 'object' || Array.isArray(e)) continue;
    switch (g.int(12)) {
      case 0: delete e.request; break;
      case 1: e.request = { ...(e.request as Json), method: g.pick(['', 'get', 'PATCHY', 42, null, 'toString', 'constructor', '__proto__', ['GET'], 'OPTIONS']) }; break;
      case 2: e.request = { ...(e.request as Json), url: g.pick(['', 'http://carnet.test/fhir/Patient', 'http://other.invalid/fhir/Patient', 'Patient?x=1', '/Patient', 'Patient/', 'Unicorn', '?', '//', 42, 'Patient/a/b/c', `Patient/${'x'.repeat(65)}`, 'Patient/%E0%A4%A', 'Patient/é']) }; break;
      case 3: e.fullUrl = g.pick([(entries[0] as Json | null)?.fullUrl, 'urn:uuid:', 'Patient/x', 42, `http://carnet.test/fhir/Patient/${patient}`]); break;
      case 4: if (e.resource && typeof e.resource === 'object') e.resource = mutateResource(g, e.resource as Json, 1); break;
      case 5: delete e.resource; break;
      case 6: e.resource = g.pick([{ resourceType: 'Unicorn' }, 'x', [], null, { resourceType: 'Observation' }, { resourceType: 'Bundle', type: 'transaction', entry: [] }]); break;
      case 7: if (e.resource && typeof e.resource === 'object') (e.resource as Json).extension = [{ url: 'http://example.invalid/x', valueReference: { reference: g.pick(REFERENCE_GARBAGE) } }]; break;
      case 8: e.request = { ...(e.request as Json), ifMatch: g.pick(['W/"x"', '*', '', 'W/"999"', 42]), ifNoneExist: g.pick([undefined, '?', '=', 'unknown=1', `identifier=${TAG}|dup`]) }; break;
      case 9: entries.push(clone(e)); break;
      case 10: entries[g.int(entries.length)] = g.pick([null, 'x', 42, [], {}]); break;
      default: e.request = g.pick(['x', [], null, { method: 'POST', url: 'Patient', extra: deepValue(100, false) }]);
    }
  }
  const type = g.chance(0.85) ? g.pick(['transaction', 'batch']) : g.pick(['garbage', 'collection', 'transaction-response', undefined, 42]);
  return { resourceType: 'Bundle', type, entry: entries };
}

/** A valid ITI-65 Provide Document Bundle with one to three things broken. */
function mhdCase(g: Gen, target: Target): unknown {
  const bundle = provideBundle(`Patient/${target.patient}`, Array.from({ length: 1 + g.int(2) }, () => ({})));
  const entries = bundle.entry as unknown as Json[];
  for (let i = 0, k = 1 + g.int(3); i < k; i++) {
    const e = g.pick(entries);
    switch (g.int(5)) {
      case 0: e.resource = mutateResource(g, e.resource as Json, 1); break;
      case 1: e.fullUrl = g.pick([...entries.map((x) => x.fullUrl), 'urn:uuid:', 42, undefined]); break;
      case 2: e.request = g.pick([undefined, { method: 'PUT', url: 'List/x' }, { method: 'POST' }, 'x']); break;
      case 3: {
        // Type confusion on what the MHD checks read: references, urls, hashes, sizes, content types, codes.
        const paths = pathsOf(e.resource).filter((p) => /reference|url|hash|size|contentType|code|system|value/.test(String(p[p.length - 1])));
        if (!paths.length) break;
        const p = g.pick(paths);
        const parent = parentOf(e.resource, p);
        if (parent) parent[p[p.length - 1]!] = flipType(g, parent[p[p.length - 1]!]);
        break;
      }
      default: (bundle as unknown as Json).entry = g.pick([[...entries, ...entries], entries.slice(1), [entries[0], 'x'], entries.map((x) => ({ ...x, resource: undefined }))]);
    }
  }
  return bundle;
}

// ---------------------------------------------------------------------------
// Assertion helper
// ---------------------------------------------------------------------------

interface Finding {
  /** One line: kind, seed, stream, case, request line, status. */
  title: string;
  /** Shown under the failure: the request and the answer, whole enough to replay. */
  details: Record<string, unknown>;
  count: number;
}

function isOutcome(body: unknown): boolean {
  const b = body as { resourceType?: unknown; issue?: unknown } | undefined;
  return !!b && b.resourceType === 'OperationOutcome' && Array.isArray(b.issue) && b.issue.length > 0;
}

function abbreviate(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const shown = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return shown.length > max ? `${shown.slice(0, max)}... [${shown.length} chars]` : shown;
}

/** The path with ids generalised (types too on operations, which every type shares; for GET, the query's parameter names), to group findings. */
function shapeOf(method: string, url: string): string {
  const [p, q] = url.split('?', 2) as [string, string | undefined];
  const operation = p.split('/').some((s) => s.startsWith('$'));
  const segments = p.split('/').map((s, i) => (s.startsWith('$') || s.startsWith('_') || i < 2 || (i === 2 && !operation) ? s : ':x'));
  const names = method === 'GET' && q ? [...new Set(q.split('&').map((kv) => kv.split('=')[0]!.split(/[:.]/)[0]!))].sort().join(',') : '';
  return `${segments.join('/')}${names ? `?${names}` : ''}`;
}

/**
 * Sends generated requests and records what breaks the rules. A finding is
 * grouped with those of the same kind and status (and path shape for a 5xx or
 * a trace, what the body says for a malformed 4xx) and reported once, with the
 * first request that showed it, so that the output stays readable.
 */
class Hunt {
  private readonly findings = new Map<string, Finding>();
  private readonly statuses = new Map<number, number>();
  private requests = 0;
  constructor(private readonly app: FastifyInstance, private readonly stream: string, private readonly tokenNames: ReadonlyMap<string, string>) {}

  async send(n: number, req: Sent): Promise<LightMyRequestResponse> {
    this.requests++;
    const res = await this.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) });
    this.statuses.set(res.statusCode, (this.statuses.get(res.statusCode) ?? 0) + 1);
    this.check(n, req, res);
    return res;
  }

  /** Rules 1 and 2: never a 5xx; a 4xx is an OperationOutcome (an OAuth error on /auth). */
  private check(n: number, req: Sent, res: LightMyRequestResponse): void {
    const status = res.statusCode;
    if (status >= 500) return this.record('5xx', n, req, res);
    if (status < 400 || req.method === 'HEAD') return;
    const pathname = req.url.split('?')[0]!;
    const body = safeJson(res.body);
    if (pathname.startsWith('/auth/')) {
      // RFC 6749 errors as JSON; the authorization pages answer a person in HTML.
      const oauth = typeof (body as { error?: unknown } | undefined)?.error === 'string';
      const page = pathname.startsWith('/auth/authorize') && /^text\/html/.test(String(res.headers['content-type'] ?? ''));
      if (!oauth && !page && !isOutcome(body)) this.record('4xx-auth-not-an-oauth-error', n, req, res);
      return;
    }
    if (!isOutcome(body)) this.record('4xx-not-an-OperationOutcome', n, req, res);
  }

  /** Rule 3: a failed write left versions or blobs behind. */
  trace(n: number, req: Sent, res: LightMyRequestResponse, left: string[]): void {
    this.record('failed-write-left-a-trace', n, req, res, `left behind: ${left.slice(0, 10).join(', ')}${left.length > 10 ? ` and ${left.length - 10} more` : ''}`);
  }

  private record(kind: string, n: number, req: Sent, res: LightMyRequestResponse, extra = ''): void {
    const code = (safeJson(res.body) as { code?: unknown } | undefined)?.code;
    const where = kind.startsWith('4xx') ? (typeof code === 'string' ? code : abbreviate(res.body, 40)) : `${req.method} ${shapeOf(req.method, req.url)}`;
    const signature = `${kind} ${res.statusCode} ${where}`;
    const known = this.findings.get(signature);
    if (known) known.count++;
    else this.findings.set(signature, { count: 1, ...this.describe(kind, n, req, res, extra) });
  }

  private describe(kind: string, n: number, req: Sent, res: LightMyRequestResponse, extra: string): Omit<Finding, 'count'> {
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, k === 'authorization' ? this.tokenNames.get(v) ?? abbreviate(v, 60) : abbreviate(v, 200)]));
    const payload = req.payload === undefined ? '(none)' : Buffer.isBuffer(req.payload) ? `<${req.payload.length} bytes>` : `(${req.payload.length} chars) ${abbreviate(req.payload, 1500)}`;
    return {
      title: `${kind} [seed ${SEED_TEXT}, stream ${this.stream}, case ${n}]: ${req.method} ${abbreviate(req.url, 120)} answered ${res.statusCode}`,
      details: {
        request: { method: req.method, url: abbreviate(req.url, 400), headers, body: payload },
        answer: { status: res.statusCode, contentType: String(res.headers['content-type'] ?? '(none)'), body: abbreviate(res.body, 600) },
        ...(extra ? { problem: extra } : {}),
      },
    };
  }

  /** One failing assertion per distinct finding, then a summary line. */
  report(t: Test, limit = 25): void {
    const findings = [...this.findings.values()];
    for (const f of findings.slice(0, limit)) t.fail(f.title, { ...f.details, sameSignature: `${f.count} request(s)`, at: null, stack: '' });
    if (findings.length > limit) t.fail(`${findings.length - limit} more distinct findings in stream ${this.stream} (seed ${SEED_TEXT})`);
    const statuses = [...this.statuses.entries()].sort(([a], [b]) => a - b).map(([s, c]) => `${s}x${c}`).join(' ');
    t.pass(`${this.stream}: ${this.requests} requests (${statuses}), ${findings.length} finding(s)`);
  }
}

/** Where a failed write could leave something: versions of the watched types (not AuditEvents: every access writes one) and blob files. */
interface Witness {
  app: FastifyInstance;
  /** A system token that reads everything. */
  authorization: string;
  /** Data directory of the embedded store, when known (blob files). */
  dataDir?: string;
}

const WATCHED_TYPES: readonly string[] = ['Patient', 'Observation', 'DocumentReference', 'Binary', 'List', 'Practitioner', 'Communication', 'Consent', 'Subscription'];

/** The watched types a Bundle could write: those its entries name, Patient (conditional writes), and a document's notifications. */
function typesIn(bundle: unknown): string[] {
  if (typeof bundle === 'string') return [...WATCHED_TYPES];
  const entries = (bundle as { entry?: unknown } | null)?.entry;
  const types = new Set<string>(['Patient']);
  for (const e of Array.isArray(entries) ? entries : []) {
    const entry = e as { resource?: { resourceType?: unknown }; request?: { url?: unknown } } | null;
    const url = entry?.request?.url;
    const urlType = typeof url === 'string' ? url.replace('http://carnet.test/fhir/', '').replace(/^\//, '').split(/[/?]/)[0] : undefined;
    for (const type of [entry?.resource?.resourceType, urlType]) if (typeof type === 'string' && WATCHED_TYPES.includes(type)) types.add(type);
  }
  if (types.has('DocumentReference')) types.add('Communication');
  return [...types];
}

/** A timestamp strictly after every write so far (the server's clock is Date.now); waits for the clock to reach it. */
async function freshInstant(): Promise<number> {
  const since = Date.now() + 1;
  while (Date.now() < since) await new Promise((resolve) => setImmediate(resolve));
  return since;
}

/** Versions of `types` written at or after `since`. */
async function writtenSince(w: Witness, since: number, types: readonly string[]): Promise<string[]> {
  const instant = encodeURIComponent(new Date(since).toISOString());
  const out: string[] = [];
  for (const type of new Set(types.filter((x) => x !== 'AuditEvent'))) {
    const url = `/fhir/${type}/_history?_since=${instant}&_count=100`;
    const res = await w.app.inject({ url, headers: { authorization: w.authorization } });
    if (res.statusCode !== 200) {
      out.push(`(${type}: ${url} answered ${res.statusCode})`);
      continue;
    }
    for (const e of (res.json() as { entry?: Array<{ fullUrl?: string; request?: { method?: string; url?: string } }> }).entry ?? []) {
      out.push(`${e.request?.method ?? 'current'} ${e.fullUrl ?? e.request?.url ?? '?'}`);
    }
  }
  return out;
}

async function blobFiles(w: Witness): Promise<number> {
  return w.dataDir ? (await readdir(path.join(w.dataDir, 'blobs')).catch(() => [] as string[])).length : 0;
}

/** Sends a write; when it fails (4xx, or a 5xx already reported), checks that nothing of `types` (nor a blob) was written. */
async function sendWrite(hunt: Hunt, w: Witness, n: number, req: Sent, types: readonly string[]): Promise<LightMyRequestResponse> {
  const blobs = await blobFiles(w);
  const since = await freshInstant();
  const res = await hunt.send(n, req);
  if (res.statusCode >= 400) {
    const left = await writtenSince(w, since, types);
    const after = await blobFiles(w);
    if (after !== blobs) left.push(`${after - blobs} blob file(s) (${blobs} before, ${after} after)`);
    if (left.length) hunt.trace(n, req, res, left);
  }
  return res;
}

/** Keeps the ids a successful answer names, so that later cases hit them. */
function remember(target: Target, res: LightMyRequestResponse): void {
  if (res.statusCode >= 300) return;
  const body = safeJson(res.body) as { resourceType?: string; id?: unknown; type?: string; entry?: Array<{ response?: { location?: string } }> } | undefined;
  const add = (type: string, id: string) => {
    if (Object.hasOwn(target.ids, type) && target.ids[type]!.length < 40 && !target.ids[type]!.includes(id)) target.ids[type]!.push(id);
  };
  if (body?.type === 'transaction-response') {
    for (const e of body.entry ?? []) {
      const [type, id] = (e.response?.location ?? '').split('/');
      if (type && id) add(type, id);
    }
  } else if (body?.resourceType && typeof body.id === 'string' && res.statusCode === 201) {
    add(body.resourceType, body.id);
  }
}

// ---------------------------------------------------------------------------
// Streams shared by the system run and the user-level run
// ---------------------------------------------------------------------------

interface Run {
  app: FastifyInstance;
  target: Target;
  witness: Witness;
  tokenNames: ReadonlyMap<string, string>;
  /** Prefix of the stream names (different principals draw different cases). */
  prefix: string;
}

async function runPaths(t: Test, run: Run, count: number): Promise<void> {
  const hunt = new Hunt(run.app, `${run.prefix}paths`, run.tokenNames);
  for (let n = 0; n < count; n++) await hunt.send(n, pathsCase(new Gen(`${run.prefix}paths`, n), run.target));
  hunt.report(t);
}

async function runSearch(t: Test, run: Run, count: number): Promise<void> {
  const hunt = new Hunt(run.app, `${run.prefix}search`, run.tokenNames);
  for (let n = 0; n < count; n++) await hunt.send(n, searchCase(new Gen(`${run.prefix}search`, n), run.target));
  hunt.report(t);
}

async function runBodies(t: Test, run: Run, count: number): Promise<void> {
  const hunt = new Hunt(run.app, `${run.prefix}bodies`, run.tokenNames);
  for (let n = 0; n < count; n++) {
    const { req, type } = bodiesCase(new Gen(`${run.prefix}bodies`, n), run.target, n);
    remember(run.target, await sendWrite(hunt, run.witness, n, req, [type, 'Communication']));
  }
  hunt.report(t);
}

async function runBundles(t: Test, run: Run, count: number): Promise<void> {
  const hunt = new Hunt(run.app, `${run.prefix}bundles`, run.tokenNames);
  for (let n = 0; n < count; n++) {
    const g = new Gen(`${run.prefix}bundles`, n);
    const bundle = bundleCase(g, run.target, n);
    const headers: Record<string, string> = { authorization: run.target.authorization, 'content-type': FHIR };
    if (g.chance(0.1)) headers.prefer = g.pick(['return=minimal', 'return=OperationOutcome', 'handling=strict']);
    const req: Sent = { method: 'POST', url: g.chance(0.95) ? '/fhir' : '/fhir/', headers, payload: typeof bundle === 'string' ? bundle : serialise(bundle) };
    // A batch commits entry by entry; a transaction, or anything not even a Bundle, must leave nothing when refused.
    const isBatch = typeof bundle === 'object' && (bundle as Json | null)?.type === 'batch';
    remember(run.target, isBatch ? await hunt.send(n, req) : await sendWrite(hunt, run.witness, n, req, typesIn(bundle)));
  }
  hunt.report(t);
}

async function runMhd(t: Test, run: Run, count: number): Promise<void> {
  const hunt = new Hunt(run.app, `${run.prefix}mhd`, run.tokenNames);
  for (let n = 0; n < count; n++) {
    const bundle = mhdCase(new Gen(`${run.prefix}mhd`, n), run.target);
    const req: Sent = { method: 'POST', url: '/fhir', headers: { authorization: run.target.authorization, 'content-type': FHIR }, payload: serialise(bundle) };
    await sendWrite(hunt, run.witness, n, req, typesIn(bundle));
  }
  hunt.report(t);
}

function newIds(seedIds: Record<string, string[]>): Record<string, string[]> {
  const ids = Object.create(null) as Record<string, string[]>;
  for (const type of ['Patient', 'Practitioner', 'Observation', 'DocumentReference', 'Binary', 'Subscription', 'List', 'Consent']) ids[type] = [...(seedIds[type] ?? [])];
  return ids;
}

async function nextCursors(app: FastifyInstance, authorization: string, urls: string[]): Promise<string[]> {
  const cursors: string[] = [];
  for (const url of urls) {
    const res = await app.inject({ url, headers: { authorization } });
    for (const l of (safeJson(res.body) as { link?: Array<{ relation: string; url: string }> } | undefined)?.link ?? []) {
      if (l.relation === 'next') cursors.push(new URL(l.url).searchParams.get('_cursor') ?? '');
    }
  }
  return cursors.filter(Boolean);
}

// ---------------------------------------------------------------------------
// The system client's run
// ---------------------------------------------------------------------------

t.test(`hostile input as a system client (seed ${SEED_TEXT})`, async (t) => {
  const server = await buildTestServer(t, { config: LIMITS });
  const { app } = server;
  const authorization = await server.auth();
  const narrow = await server.auth('system/Observation.rs');
  const readOnly = await server.auth('system/*.rs');
  const tokenNames = new Map([[authorization, 'Bearer <system/*.cruds>'], [narrow, 'Bearer <system/Observation.rs>'], [readOnly, 'Bearer <system/*.rs>']]);
  const json = { authorization, 'content-type': FHIR };
  const create = async (url: string, payload: Json | string | Buffer, method: 'POST' | 'PUT' = 'POST', contentType = FHIR): Promise<Json> => {
    const res = await app.inject({ method, url, headers: { authorization, 'content-type': contentType }, payload });
    if (res.statusCode >= 300) throw new Error(`fixture ${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.json() as Json;
  };

  // Fixtures: ids that exist, so that generated requests reach the store, the policy and the rules.
  await create('/fhir/Practitioner/dr-martin', { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] }, 'PUT');
  await create(`/fhir/Patient/${PATIENT_ID}`, { ...patientResource('p1'), id: PATIENT_ID }, 'PUT');
  const ids = newIds({ Patient: [PATIENT_ID], Practitioner: ['dr-martin'] });
  for (const marker of ['dup', 'dup']) ids.Patient!.push(String((await create('/fhir/Patient', patientResource(marker))).id));
  for (let i = 0; i < 4; i++) ids.Observation!.push(String((await create('/fhir/Observation', observationResource(`o${i}`, PATIENT_ID))).id));
  ids.DocumentReference!.push(String((await create('/fhir/DocumentReference', documentResource('d1', PATIENT_ID))).id));
  ids.Consent!.push(String((await create('/fhir/Consent', consentResource('c1', PATIENT_ID))).id));
  ids.Subscription!.push(String((await create('/fhir/Subscription', subscriptionResource(PATIENT_ID))).id));
  const gone = String((await create('/fhir/Patient', patientResource('gone'))).id);
  await app.inject({ method: 'DELETE', url: `/fhir/Patient/${gone}`, headers: { authorization } });
  ids.Patient!.push(gone);
  const provided = await create('/fhir', provideBundle(`Patient/${PATIENT_ID}`) as unknown as Json);
  for (const e of (provided.entry as Array<{ response: { location: string } }>)) {
    const [type, id] = e.response.location.split('/') as [string, string];
    ids[type]?.push(id);
  }
  ids.Binary!.push(String((await create('/fhir/Binary', 'hello bytes', 'POST', 'text/plain')).id));
  // A Binary whose bytes claim to be FHIR JSON and are not (a Bundle GET entry reads it back).
  ids.Binary!.push(String((await create('/fhir/Binary', { resourceType: 'Binary', contentType: FHIR, data: Buffer.from('{ not json').toString('base64') })).id));
  const cursors = await nextCursors(app, authorization, ['/fhir/Observation?_count=1', '/fhir/Observation/_history?_count=1']);

  const target: Target = { patient: PATIENT_ID, ids, cursors, authorization, others: [narrow, readOnly] };
  const witness: Witness = { app, authorization, dataDir: server.dataDir };
  const run: Run = { app, target, witness, tokenNames, prefix: '' };

  t.test('methods x paths: never a 5xx, and every 4xx an OperationOutcome', (t) => runPaths(t, run, 400));
  t.test('search: modifiers, prefixes, chains, _has, includes, paging cursors', (t) => runSearch(t, run, 400));

  t.test('headers: Accept, Content-Type, conditional headers, Prefer, request ids, tokens', async (t) => {
    const hunt = new Hunt(app, 'headers', tokenNames);
    const tampered = authorization.slice(0, -4) + (authorization.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const HEADER_VALUES: Record<string, ReadonlyArray<string | undefined>> = {
      accept: ['application/fhir+xml', 'text/html', '*/*', '', 'garbage', 'application/*', 'application/fhir+json;q=0', 'application/json;fhirVersion=3.0', ';;;', ',', 'application/fhir+json, */*;q=0.1', 'image/png', 'application/fhir+json; charset=iso-8859-1', 'a/'.repeat(3000), 'application/fhir+json;q=abc', 'text/plain', 'application/octet-stream'],
      'content-type': [undefined, '', 'text/plain', 'application/json', 'application/fhir+json; charset=utf-16', 'application/fhir+json; charset=latin1', 'application/fhir+json;;', FORM, 'multipart/form-data; boundary=x', PATCH_JSON, 'application/fhir+xml', '*/*', 'application/', '/', 'garbage', ';charset=utf-8', 'APPLICATION/FHIR+JSON', 'application/fhir+json; fhirVersion=4.0'],
      'if-match': ['W/"x"', '*', '', 'W/', '"1"', 'W/"1"', 'W/"999"', 'W/"-1"', 'W/"1", W/"2"', 'garbage', 'W/"1e3"', `W/"${'9'.repeat(40)}"`],
      'if-none-exist': ['?', '=', 'unknownparam=1', 'identifier=', `identifier=${TAG}|dup`, `_id=${PATIENT_ID}`, '&&&', '%E0%A4%A', 'name:unknownmod=x', '_has:Observation:patient:code=x', 'subject.name=x', '_count=abc', '_include=*', '_sort=garbage', 'birthdate=2020-13-45', 'http://carnet.test/fhir/Patient?identifier=x'],
      'if-none-match': ['*', 'W/"1"', '', 'garbage', 'W/"1", *'],
      'if-modified-since': ['garbage', '', 'Mon, 32 Foo 2020 99:99:99 GMT', '0'],
      prefer: ['return=garbage', 'handling=strict', 'return=minimal', 'return=OperationOutcome', 'respond-async', '====', ';', 'return', 'handling=strict, return=minimal', 'return="minimal"'],
      'x-request-id': ['a'.repeat(5000), 'abc\tdef', 'é', '../../x', '', 'ok-id.1', '\u007f'],
      authorization: [undefined, 'Bearer', 'Bearer ', 'Bearer garbage', tampered, 'Basic dXNlcjpwYXNz', authorization.replace('Bearer', 'bearer'), authorization.replace('Bearer ', 'Bearer  '), `${authorization} extra`, narrow, readOnly, 'Bearer a.b.c', `Bearer ${'x'.repeat(10_000)}`],
      'x-break-the-glass': ['emergency', '', 'x'.repeat(3000)],
      'x-security-context': [`Patient/${PATIENT_ID}`, 'garbage', '../x', 'DocumentReference/nobody'],
      'x-ihe-transaction': ['ITI-67', 'ITI-65', 'garbage'],
    };
    for (let n = 0; n < 300; n++) {
      const g = new Gen('headers', n);
      const obsId = g.pick(ids.Observation!);
      const valid: Sent[] = [
        { method: 'GET', url: `/fhir/Patient/${PATIENT_ID}`, headers: { authorization } },
        { method: 'GET', url: `/fhir/Observation/${obsId}/_history/1`, headers: { authorization } },
        { method: 'GET', url: '/fhir/Patient?name=durand', headers: { authorization } },
        { method: 'GET', url: `/fhir/Binary/${g.pick(ids.Binary!)}`, headers: { authorization } },
        { method: 'POST', url: '/fhir/Patient', headers: { ...json }, payload: serialise(patientResource(`h${n}`)) },
        { method: 'PUT', url: `/fhir/Observation/${obsId}`, headers: { ...json }, payload: serialise({ ...observationResource(`h${n}`, PATIENT_ID), id: obsId }) },
        { method: 'PATCH', url: `/fhir/Observation/${obsId}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: serialise([{ op: 'replace', path: '/status', value: 'amended' }]) },
        { method: 'DELETE', url: `/fhir/Observation/${g.pick(ids.Observation!)}`, headers: { authorization } },
        { method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.from('%PDF-1.4 hostile') },
        { method: 'POST', url: '/fhir', headers: { ...json }, payload: serialise({ resourceType: 'Bundle', type: g.pick(['batch', 'transaction']), entry: [{ fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patientResource(`hb${n}`), request: { method: 'POST', url: 'Patient' } }, { request: { method: 'GET', url: `Patient/${PATIENT_ID}` } }] }) },
        { method: 'POST', url: '/fhir/Patient/$validate', headers: { ...json }, payload: serialise(patientResource('v')) },
        { method: 'POST', url: '/fhir/Patient/_search', headers: { authorization, 'content-type': FORM }, payload: 'name=durand' },
        { method: 'PUT', url: `/fhir/Patient?identifier=${encodeURIComponent(`${TAG}|h${n}`)}`, headers: { ...json }, payload: serialise(patientResource(`h${n}`)) },
        { method: 'GET', url: '/fhir/metadata', headers: {} },
      ];
      const picked = g.pick(valid);
      const req: Sent = { ...picked, headers: { ...picked.headers } };
      for (const name of g.some(Object.keys(HEADER_VALUES), 3)) {
        const value = g.pick(HEADER_VALUES[name]!);
        if (value === undefined) delete req.headers[name];
        else req.headers[name] = value;
      }
      // The valid requests above write Patients, Observations and Binaries only.
      if (req.method === 'GET') await hunt.send(n, req);
      else remember(target, await sendWrite(hunt, witness, n, req, ['Patient', 'Observation', 'Binary']));
    }
    hunt.report(t);
  });

  t.test('bodies: mutated resources on create, update, conditional update, patch and $validate', (t) => runBodies(t, run, 450));

  t.test('Binary: odd content types, JSON Binaries, odd Accept on reads, sizes at the limit', async (t) => {
    const hunt = new Hunt(app, 'binary', tokenNames);
    const max = LIMITS.binaryMaxBytes;
    for (let n = 0; n < 180; n++) {
      const g = new Gen('binary', n);
      const headers: Record<string, string> = { authorization };
      const kind = g.int(10);
      if (kind < 4) {
        headers['content-type'] = g.pick(['text/plain', 'application/octet-stream', 'application/pdf', FHIR, 'application/json', PATCH_JSON, 'multipart/form-data; boundary=x', FORM, 'image/png; charset=', ';', 'application/fhir+xml', 'text/html; charset=utf-8', '*/*', 'garbage']);
        if (g.chance(0.2)) headers['x-security-context'] = g.pick([`DocumentReference/${g.pick(ids.DocumentReference!)}`, 'garbage', 'Patient/']);
        const payload = Buffer.alloc(g.pick([0, 1, 100, max - 1, max, max + 1]), g.pick(['a', '{', '\u0000', 'é']));
        const put = g.chance(0.3);
        const url = put ? `/fhir/Binary/${g.chance(0.5) ? g.pick(ids.Binary!) : `bin-${n}`}` : '/fhir/Binary';
        remember(target, await sendWrite(hunt, witness, n, { method: put ? 'PUT' : 'POST', url, headers, payload }, ['Binary']));
      } else if (kind < 7) {
        headers['content-type'] = g.pick([FHIR, 'application/json']);
        const binary: Json = { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from(`hostile ${n}`).toString('base64') };
        const put = g.chance(0.5);
        const putId = g.chance(0.5) ? g.pick(ids.Binary!) : `bin-${n}`;
        if (put) binary.id = putId;
        const body = g.chance(0.3)
          ? { ...binary, data: g.pick(['!!!', '====', 'a', Buffer.alloc(max + 1).toString('base64'), Buffer.alloc(max).toString('base64'), 42, null, {}, ['x'], '\u0000']) }
          : g.chance(0.6) ? mutateResource(g, binary) : binary;
        const payload = g.chance(0.1) ? g.pick(RAW_BODIES) : serialise(body);
        remember(target, await sendWrite(hunt, witness, n, { method: put ? 'PUT' : 'POST', url: put ? `/fhir/Binary/${putId}` : '/fhir/Binary', headers, payload }, ['Binary']));
      } else {
        if (g.chance(0.7)) headers.accept = g.pick([FHIR, 'application/json', 'text/plain', 'application/octet-stream', 'image/png', '*/*', '', 'garbage', 'application/fhir+xml', 'text/*', 'application/fhir+json;q=0, text/plain']);
        const version = g.chance(0.3) ? `/_history/${g.pick(['1', '2', 'x'])}` : '';
        const format = g.chance(0.2) ? `?_format=${g.pick(['json', 'xml', 'garbage', 'text/plain'])}` : '';
        await hunt.send(n, { method: g.pick(['GET', 'GET', 'HEAD']), url: `/fhir/Binary/${g.pick(ids.Binary!)}${version}${format}`, headers });
      }
    }
    hunt.report(t);
  });

  t.test('Bundles: batch and transaction with broken entries; a refused transaction leaves no trace', (t) => runBundles(t, run, 300));
  t.test('MHD Provide Document Bundles, mutated: a refused one leaves no trace', (t) => runMhd(t, run, 80));

  t.test('OAuth, catalogue and administration endpoints', async (t) => {
    const hunt = new Hunt(app, 'auth', tokenNames);
    const fields = ['grant_type', 'client_assertion_type', 'client_assertion', 'scope', 'code', 'redirect_uri', 'client_id', 'code_verifier', 'refresh_token', 'token', 'token_type_hint', 'request_id', 'username', 'password', 'decision', 'patient', 'response_type', 'state', 'aud', 'code_challenge', 'code_challenge_method', 'launch', 'nonce'];
    const values = ['client_credentials', 'authorization_code', 'refresh_token', 'garbage', '', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', 'system/*.cruds', 'patient/*.rs launch/patient', 'system/Unicorn.rs', 'user/*.*?x=%', 'openid fhirUser', 'https://app.test/callback', 'test-app', 'approve', 'deny', 'S256', 'plain', 'code', 'http://carnet.test/fhir', 'x'.repeat(5000), 'é', '%00'];
    const paths = ['/auth/token', '/auth/token', '/auth/introspect', '/auth/revoke', '/auth/authorize', '/auth/authorize/sign-in', '/auth/authorize/consent', '/auth/launch', '/auth/jwks', '/admin/apps', '/admin/apps/x', '/admin/apps/x/reference', '/catalogue', '/.well-known/openid-configuration', '/health', '/auth/unknown'];
    for (let n = 0; n < 200; n++) {
      const g = new Gen('auth', n);
      const form = new URLSearchParams();
      for (const f of g.some(fields, 6)) form.append(f, g.pick(values));
      const method = g.pick(['GET', 'POST', 'POST', 'PUT', 'DELETE']);
      const headers: Record<string, string> = {};
      if (g.chance(0.5)) headers.authorization = g.pick([authorization, 'Basic dGVzdC1hcHA6c2VjcmV0', 'Basic !!!', 'Basic ', 'Bearer garbage', readOnly]);
      const url = g.pick(paths);
      if (method === 'GET') {
        await hunt.send(n, { method, url: `${url}?${form}`, headers });
        continue;
      }
      headers['content-type'] = g.pick([FORM, FORM, 'application/json', FHIR, 'text/plain', 'multipart/form-data; boundary=x', `${FORM}; charset=latin1`]);
      const payload = headers['content-type'].startsWith(FORM) ? form.toString()
        : g.chance(0.5) ? serialise(Object.fromEntries(form))
          : g.pick([...RAW_BODIES, serialise({ patient: hostileValue(g) }), serialise({ name: hostileValue(g), redirectUris: hostileValue(g), scope: hostileValue(g) })]);
      await hunt.send(n, { method, url, headers, payload });
    }
    hunt.report(t);
  });

  t.test('bodies at the configured limits', async (t) => {
    const hunt = new Hunt(app, 'limits', tokenNames);
    const cases: Array<{ req: Sent; write: boolean }> = [];
    const patientOf = (size: number) => ({ resourceType: 'Patient', identifier: [{ system: TAG, value: `limit-${size}` }], name: [{ text: 'x'.repeat(size) }] });
    for (const size of [LIMITS.bodyLimit - 300, LIMITS.bodyLimit + 1, LIMITS.bodyLimit * 2]) {
      cases.push({ write: true, req: { method: 'POST', url: '/fhir/Patient', headers: { ...json }, payload: serialise(patientOf(size)) } });
      cases.push({ write: true, req: { method: 'POST', url: '/fhir', headers: { ...json }, payload: serialise({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientOf(size), request: { method: 'POST', url: 'Patient' } }] }) } });
      cases.push({ write: false, req: { method: 'POST', url: '/fhir/Patient/_search', headers: { authorization, 'content-type': FORM }, payload: `name=${'x'.repeat(size)}` } });
      cases.push({ write: false, req: { method: 'POST', url: '/auth/token', headers: { 'content-type': FORM }, payload: `grant_type=${'x'.repeat(size)}` } });
    }
    for (const count of [LIMITS.bundleMaxEntries, LIMITS.bundleMaxEntries + 1]) {
      const entry = Array.from({ length: count }, (_, i) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resource: patientResource(`lim-${count}-${i}`), request: { method: 'POST', url: 'Patient' } }));
      cases.push({ write: true, req: { method: 'POST', url: '/fhir', headers: { ...json }, payload: serialise({ resourceType: 'Bundle', type: 'transaction', entry }) } });
    }
    for (const size of [LIMITS.binaryMaxBytes, LIMITS.binaryMaxBytes + 1]) {
      const entry = [
        { resource: patientResource(`lim-bin-${size}`), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Binary', contentType: 'application/pdf', data: Buffer.alloc(size, 7).toString('base64') }, request: { method: 'POST', url: 'Binary' } },
      ];
      cases.push({ write: true, req: { method: 'POST', url: '/fhir', headers: { ...json }, payload: serialise({ resourceType: 'Bundle', type: 'transaction', entry }) } });
      cases.push({ write: true, req: { method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf' }, payload: Buffer.alloc(size, 7) } });
    }
    for (const [n, { req, write }] of cases.entries()) {
      if (write) await sendWrite(hunt, witness, n, req, ['Patient', 'Binary']);
      else await hunt.send(n, req);
    }
    hunt.report(t);
  });
});

// ---------------------------------------------------------------------------
// The same streams as a patient's app and as a professional's software
// ---------------------------------------------------------------------------

t.test(`hostile input as a patient's app and as the regular doctor's software (seed ${SEED_TEXT})`, async (t) => {
  // A small health space: alice, her regular doctor, another patient; two accounts only (argon2 is slow on purpose).
  const space = await buildSpaceServer(t, { config: { writeWorkers: 0 } });
  const { app } = space;
  const system = await space.systemAuth();
  const seedOne = async (resource: Json) => {
    const res = await app.inject({ method: 'POST', url: `/fhir/${String(resource.resourceType)}`, headers: { authorization: system, 'content-type': FHIR }, payload: resource });
    if (res.statusCode !== 201) throw new Error(`seeding ${String(resource.resourceType)}: ${res.statusCode} ${res.body}`);
    return String((res.json() as Json).id);
  };
  const doctorId = await seedOne({ resourceType: 'Practitioner', name: [{ family: 'Traitant' }] });
  const alice = await seedOne({ ...patientResource('alice'), generalPractitioner: [{ reference: `Practitioner/${doctorId}` }] });
  const bob = await seedOne(patientResource('bob'));
  await app.carnetAuth.accounts.create({ username: 'alice', passwordHash: await passwordHash(), kind: 'patient', fhirUser: `Patient/${alice}` });
  await app.carnetAuth.accounts.create({ username: 'doctor', passwordHash: await passwordHash(), kind: 'practitioner', fhirUser: `Practitioner/${doctorId}` });
  const holder = `Bearer ${(await signIn(app, { clientId: APPS.holder, username: 'alice', scope: 'launch/patient patient/*.cruds' })).access_token}`;
  const doctor = `Bearer ${(await signIn(app, { clientId: APPS.pro, username: 'doctor', scope: 'user/*.cruds' })).access_token}`;
  const tokenNames = new Map([[holder, 'Bearer <alice, patient/*.cruds>'], [doctor, 'Bearer <her regular doctor, user/*.cruds>'], [system, 'Bearer <system/*.cruds>']]);
  const ids = newIds({ Patient: [alice, bob], Practitioner: [doctorId] });
  for (let i = 0; i < 3; i++) ids.Observation!.push(await seedOne(observationResource(`space-o${i}`, alice)));
  ids.Observation!.push(await seedOne(observationResource('space-bob', bob)));
  ids.DocumentReference!.push(await seedOne(documentResource('space-d1', alice)));
  const cursors = await nextCursors(app, system, ['/fhir/Observation?_count=1']);
  const witness: Witness = { app, authorization: system };

  for (const [who, authorization, other] of [['patient', holder, doctor], ['professional', doctor, holder]] as const) {
    const run: Run = { app, target: { patient: alice, ids: newIds(ids), cursors, authorization, others: [other] }, witness, tokenNames, prefix: `${who}-` };
    t.test(`as a ${who}: paths`, (t) => runPaths(t, run, 80));
    t.test(`as a ${who}: search`, (t) => runSearch(t, run, 80));
    t.test(`as a ${who}: bodies`, (t) => runBodies(t, run, 120));
    t.test(`as a ${who}: Bundles`, (t) => runBundles(t, run, 70));
  }
});

// ---------------------------------------------------------------------------
// Regressions: each bug the generator found, reduced to its smallest request
// ---------------------------------------------------------------------------

t.test('regressions found by the hostile-input generator', async (t) => {
  const server = await buildTestServer(t, { config: LIMITS });
  const { app } = server;
  const authorization = await server.auth();
  const json = { authorization, 'content-type': FHIR };
  const witness: Witness = { app, authorization, dataDir: server.dataDir };
  await app.inject({ method: 'PUT', url: `/fhir/Patient/${PATIENT_ID}`, headers: json, payload: { ...patientResource('p1'), id: PATIENT_ID } });
  await app.inject({ method: 'PUT', url: '/fhir/Practitioner/dr-martin', headers: json, payload: { resourceType: 'Practitioner', id: 'dr-martin', name: [{ family: 'Martin' }] } });

  /** The status is one of `statuses` and the body an OperationOutcome with an issue. */
  const refused = (t: Test, res: LightMyRequestResponse, statuses: number[], name: string) => {
    t.ok(statuses.includes(res.statusCode), `${name}: ${statuses.join(' or ')}, got ${res.statusCode} ${abbreviate(res.body, 300)}`);
    t.ok(isOutcome(safeJson(res.body)), `${name}: an OperationOutcome`);
  };
  /** Nothing of `types` and no blob written by `send`. */
  const leavesNoTrace = async (t: Test, name: string, types: readonly string[], send: () => Promise<LightMyRequestResponse>) => {
    const blobs = await blobFiles(witness);
    const since = await freshInstant();
    const res = await send();
    t.same(await writtenSince(witness, since, types), [], `${name}: no version written`);
    t.equal(await blobFiles(witness), blobs, `${name}: no blob file kept`);
    return res;
  };

  t.test('$validate with a Parameters whose parameter is not a list of objects: 400, or 200 reporting the error', async (t) => {
    for (const parameter of [42, 'x', [null], [1]]) {
      const name = `parameter ${JSON.stringify(parameter)}`;
      const res = await app.inject({ method: 'POST', url: '/fhir/Patient/$validate', headers: json, payload: { resourceType: 'Parameters', parameter } });
      refused(t, res, [400, 200], name);
      const issues = (safeJson(res.body) as { issue?: Array<{ severity?: string }> } | undefined)?.issue ?? [];
      if (res.statusCode === 200) t.ok(issues.some((i) => i.severity === 'error'), `${name}: the outcome holds an error`);
    }
  });

  t.test('DocumentReference with type.coding, category or content of the wrong JSON type: 400, nothing written', async (t) => {
    const base = documentResource('regression-doc', PATIENT_ID);
    const broken = [['type.coding: 0', { ...base, type: { coding: 0 } }], ['category: 5', { ...base, category: 5 }], ['category[0].coding: "x"', { ...base, category: [{ coding: 'x' }] }], ['content: "x"', { ...base, content: 'x' }]] as const;
    for (const [name, body] of broken) {
      const res = await leavesNoTrace(t, name, ['DocumentReference', 'Communication'], () => app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: body }));
      refused(t, res, [400], `create, ${name}`);
    }
    const created = await app.inject({ method: 'POST', url: '/fhir/DocumentReference', headers: json, payload: base });
    const id = String((created.json() as Json).id);
    const res = await leavesNoTrace(t, 'update', ['DocumentReference'], () => app.inject({ method: 'PUT', url: `/fhir/DocumentReference/${id}`, headers: json, payload: { ...base, id, type: { coding: 0 } } }));
    refused(t, res, [400], 'update, type.coding: 0');
  });

  t.test('deeply nested JSON (2000 levels of extension): 400, also inside a transaction', async (t) => {
    let extension: unknown = { url: 'http://example.invalid/x', valueString: 'x' };
    for (let i = 0; i < 2000; i++) extension = { url: 'http://example.invalid/x', extension: [extension] };
    const deep = { ...patientResource('regression-deep'), extension: [extension] };
    const direct = await leavesNoTrace(t, 'create', ['Patient'], () => app.inject({ method: 'POST', url: '/fhir/Patient', headers: json, payload: deep }));
    refused(t, direct, [400, 422], 'create');
    const inTransaction = await leavesNoTrace(t, 'transaction', ['Patient'], () => app.inject({
      method: 'POST', url: '/fhir', headers: json,
      payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientResource('regression-deep-ok'), request: { method: 'POST', url: 'Patient' } }, { resource: deep, request: { method: 'POST', url: 'Patient' } }] },
    }));
    refused(t, inTransaction, [400, 422], 'transaction');
  });

  t.test('JSON Patch nesting too deep or growing without bound: inside a transaction\'s Binary (seed 2024), built up add by add, by copies of copies: 400 or 422, nothing changed', async (t) => {
    const created = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: json, payload: patientResource('regression-deep-patch') });
    const id = String((created.json() as Json).id);
    const patchHeaders = { authorization, 'content-type': 'application/json-patch+json' };
    const patchWith = (name: string, operations: unknown[]) => leavesNoTrace(t, name, ['Patient'], () => app.inject({ method: 'PATCH', url: `/fhir/Patient/${id}`, headers: patchHeaders, payload: serialise(operations) }));

    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const binary = { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(serialise([{ op: 'add', path: '/name/-', value: deep }])).toString('base64') };
    const inTransaction = await leavesNoTrace(t, 'transaction', ['Patient'], () => app.inject({
      method: 'POST', url: '/fhir', headers: json,
      payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: binary, request: { method: 'PATCH', url: `Patient/${id}` } }] },
    }));
    refused(t, inTransaction, [400], 'transaction');

    // 41 nested extensions (82 levels) per operation, each added inside the previous one's: every operation is within the bound, the result 2,000 levels deep: 422.
    const nested = (n: number): unknown => (n === 0 ? { url: 'http://example.invalid/x', valueString: 'x' } : { url: 'http://example.invalid/x', extension: [nested(n - 1)] });
    const intoLeaf = (levels: number) => `/extension/0${'/extension/0'.repeat(levels - 1)}`;
    const adds = Array.from({ length: 25 }, (_, k) => ({ op: 'add', path: k === 0 ? '/extension' : `${intoLeaf(41 * k)}/extension`, value: [nested(40)] }));
    const added = await patchWith('adds', adds);
    refused(t, added, [422], 'adds');
    t.match(added.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_TOO_LARGE' }] }, diagnostics: /nest objects and arrays more than 128 levels/ }] });

    // Each copy puts the whole tree inside its own deepest extension: the depth doubles at each operation.
    const deeper = [{ op: 'add', path: '/extension', value: [nested(29)] }, ...Array.from({ length: 8 }, (_, k) => ({ op: 'copy', from: '/extension', path: `${intoLeaf(30 * 2 ** k)}/extension` }))];
    const copiedDeeper = await patchWith('copies, deeper', deeper);
    refused(t, copiedDeeper, [422], 'copies, deeper');
    t.match(copiedDeeper.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_TOO_LARGE' }] }, diagnostics: /operation 2 \(copy/ }] });

    // Each copy appends the whole list of extensions to itself: the size doubles at each operation.
    const larger = [{ op: 'add', path: '/extension', value: [nested(1)] }, ...Array.from({ length: 40 }, () => ({ op: 'copy', from: '/extension', path: '/extension/-' }))];
    const copiedLarger = await patchWith('copies, larger', larger);
    refused(t, copiedLarger, [422], 'copies, larger');
    t.match(copiedLarger.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_TOO_LARGE' }] }, diagnostics: /more than twice the size/ }] });

    // Copies of a list of 20,000 numbers: the budget counts every value, not only objects and arrays.
    const zeros = Array.from({ length: 20_000 }, () => 0);
    const manyValues = [{ op: 'add', path: '/x', value: zeros }, { op: 'add', path: '/y', value: [] }, ...Array.from({ length: 200 }, () => ({ op: 'copy', from: '/x', path: '/y/-' }))];
    const copiedValues = await patchWith('copies of many values', manyValues);
    refused(t, copiedValues, [422], 'copies of many values');
    t.match(copiedValues.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_TOO_LARGE' }] } }] });

    // A test against a long list that differs: compared value by value, not by computing a diff (a 500 before).
    const tested = await patchWith('test of a long list', [{ op: 'add', path: '/name/0/given', value: zeros }, { op: 'test', path: '/name/0/given', value: [...zeros.slice(1), 1] }]);
    refused(t, tested, [422], 'test of a long list');
    t.match(tested.json(), { issue: [{ details: { coding: [{ code: 'FHIR_ERR_REST_PATCH_FAILED' }] }, diagnostics: /operation 1 \(test \/name\/0\/given\) failed: the value there is not the one tested/ }] });

    // Within the bounds, tests and copies still work.
    const fine = await app.inject({ method: 'PATCH', url: `/fhir/Patient/${id}`, headers: patchHeaders, payload: serialise([{ op: 'test', path: '/name/0', value: (patientResource('regression-deep-patch') as { name: unknown[] }).name[0] }, { op: 'add', path: '/extension', value: [nested(1)] }, { op: 'copy', from: '/extension/0', path: '/extension/-' }]) });
    t.equal(fine.statusCode, 200, `a copy within the bounds applies: ${abbreviate(fine.body, 300)}`);
    t.equal(((fine.json() as Json).extension as unknown[]).length, 2);
  });

  t.test('a string search value of 40,000 characters (POST _search form) is refused or matches nothing, never a 500', async (t) => {
    await app.inject({ method: 'POST', url: '/fhir/Patient', headers: json, payload: { resourceType: 'Patient', name: [{ family: 'x'.repeat(10) }] } });
    for (const [param, value] of [['name', 'x'.repeat(40_000)], ['name:contains', '.'.repeat(20_000)], ['identifier:text', 'x'.repeat(40_000)]] as const) {
      const res = await app.inject({ method: 'POST', url: '/fhir/Patient/_search', headers: { authorization, 'content-type': FORM }, payload: `${param}=${encodeURIComponent(value)}` });
      t.ok(res.statusCode === 200 || res.statusCode === 400, `${param}: 200 (no match) or 400, got ${res.statusCode} ${abbreviate(res.body, 200)}`);
      if (res.statusCode === 400) refused(t, res, [400], param);
    }
  });

  t.test('a Bundle GET entry whose url leaves the FHIR base: 400, and the transaction writes nothing', async (t) => {
    for (const url of ['../auth/authorize', '../health']) {
      const res = await leavesNoTrace(t, `transaction with GET ${url}`, ['Patient'], () => app.inject({
        method: 'POST', url: '/fhir', headers: json,
        payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientResource(`regression-escape-${url}`), request: { method: 'POST', url: 'Patient' } }, { request: { method: 'GET', url } }] },
      }));
      refused(t, res, [400], `transaction with GET ${url}`);
    }
    const batch = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: '../auth/authorize' } }] } });
    t.equal(batch.statusCode, 200, `batch: 200, got ${batch.statusCode} ${abbreviate(batch.body, 200)}`);
    const entry = (safeJson(batch.body) as { entry?: Array<{ response?: { status?: string; outcome?: unknown } }> } | undefined)?.entry?.[0];
    t.match(entry?.response?.status ?? '', /^400/, 'batch: the entry answers 400');
    t.ok(isOutcome(entry?.response?.outcome), 'batch: with an OperationOutcome');
  });

  t.test('a transaction GET entry on a Binary whose bytes are not JSON answers the Binary resource, never a 500 after the commit', async (t) => {
    const binary = await app.inject({ method: 'POST', url: '/fhir/Binary', headers: json, payload: { resourceType: 'Binary', contentType: FHIR, data: Buffer.from('not json at all').toString('base64') } });
    const id = String((binary.json() as Json).id);
    const marker = 'regression-binary-get';
    const res = await app.inject({
      method: 'POST', url: '/fhir', headers: json,
      payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientResource(marker), request: { method: 'POST', url: 'Patient' } }, { request: { method: 'GET', url: `Binary/${id}` } }] },
    });
    t.equal(res.statusCode, 200, `200, got ${res.statusCode} ${abbreviate(res.body, 200)}`);
    const entry = (safeJson(res.body) as { entry?: Array<{ resource?: { resourceType?: string }; response?: { status?: string } }> } | undefined)?.entry?.[1];
    t.equal(entry?.response?.status, '200', 'the GET entry answers 200');
    t.equal(entry?.resource?.resourceType, 'Binary', 'with the Binary resource (base64 data), as a FHIR JSON read gives it');
    const stored = await app.inject({ url: `/fhir/Patient?identifier=${encodeURIComponent(`${TAG}|${marker}`)}&_summary=count`, headers: { authorization } });
    t.equal((stored.json() as { total?: number }).total, res.statusCode === 200 ? 1 : 0, 'the Patient is stored only when the transaction succeeded');
  });

  t.test('JSON Patch with a path or from that is not a JSON Pointer: 400, nothing written', async (t) => {
    for (const patch of [[{ op: 'replace', path: 'gender', value: 'male' }], [{ op: 'copy', from: 'name', path: '/name/-' }], [{ op: 'move', from: 42, path: '/x' }]]) {
      const res = await leavesNoTrace(t, JSON.stringify(patch), ['Patient'], () => app.inject({ method: 'PATCH', url: `/fhir/Patient/${PATIENT_ID}`, headers: { authorization, 'content-type': PATCH_JSON }, payload: serialise(patch) }));
      refused(t, res, [400], `PATCH ${JSON.stringify(patch)}`);
    }
    const data = Buffer.from(serialise([{ op: 'replace', path: 'gender', value: 'male' }])).toString('base64');
    const res = await leavesNoTrace(t, 'transaction', ['Patient'], () => app.inject({
      method: 'POST', url: '/fhir', headers: json,
      payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientResource('regression-patch'), request: { method: 'POST', url: 'Patient' } }, { resource: { resourceType: 'Binary', contentType: PATCH_JSON, data }, request: { method: 'PATCH', url: `Patient/${PATIENT_ID}` } }] },
    }));
    refused(t, res, [400], 'PATCH entry in a transaction');
  });

  t.test('MHD Provide Document Bundle with elements of the wrong JSON type: 4xx, nothing written', async (t) => {
    const binaryEntry = (b: ReturnType<typeof provideBundle>) => b.entry.find((e) => e.resource?.resourceType === 'Binary')! as unknown as { resource: Json };
    const attachment = (b: ReturnType<typeof provideBundle>) => ((b.entry.find((e) => e.resource?.resourceType === 'DocumentReference')!.resource as unknown as { content: Array<{ attachment: Json }> }).content[0]!.attachment);
    const list = (b: ReturnType<typeof provideBundle>) => b.entry[0]!.resource as unknown as { subject: Json; entry: Array<{ item: Json }> };
    const doc = (b: ReturnType<typeof provideBundle>) => b.entry.find((e) => e.resource?.resourceType === 'DocumentReference')!.resource as unknown as Json;
    const breakages: Array<[string, (b: ReturnType<typeof provideBundle>) => void]> = [
      ['Binary.contentType: 7', (b) => { binaryEntry(b).resource.contentType = 7; }],
      ['attachment.url: 42', (b) => { attachment(b).url = 42; }],
      ['attachment.contentType: 42', (b) => { attachment(b).contentType = 42; }],
      ['List.entry[0].item.reference: 42', (b) => { list(b).entry[0]!.item.reference = 42; }],
      ['List.subject.reference: 42', (b) => { list(b).subject.reference = 42; }],
      ['DocumentReference.content: "x"', (b) => { doc(b).content = 'x'; }],
    ];
    for (const [name, breakIt] of breakages) {
      const bundle = provideBundle(`Patient/${PATIENT_ID}`);
      breakIt(bundle);
      const res = await leavesNoTrace(t, name, WATCHED_TYPES, () => app.inject({ method: 'POST', url: '/fhir', headers: json, payload: bundle }));
      refused(t, res, [400, 422], name);
    }
  });

  t.test('conditional update that matches nothing, with a body id of null: 400, nothing written', async (t) => {
    const res = await leavesNoTrace(t, 'id: null', ['Patient'], () => app.inject({ method: 'PUT', url: `/fhir/Patient?identifier=${encodeURIComponent(`${TAG}|nobody`)}`, headers: json, payload: { ...patientResource('regression-null-id'), id: null } }));
    refused(t, res, [400], 'id: null');
  });

  t.test('Bundle entries whose request.ifMatch or request.ifNoneExist is not a string: 400, nothing written', async (t) => {
    const entries: Array<[string, Json]> = [
      ['PUT with ifMatch: 42', { resource: { ...patientResource('regression-if-match'), id: PATIENT_ID }, request: { method: 'PUT', url: `Patient/${PATIENT_ID}`, ifMatch: 42 } }],
      ['DELETE with ifMatch: 42', { request: { method: 'DELETE', url: `Patient/${PATIENT_ID}`, ifMatch: 42 } }],
      ['POST with ifNoneExist: 42', { resource: patientResource('regression-if-none-exist'), request: { method: 'POST', url: 'Patient', ifNoneExist: 42 } }],
    ];
    for (const [name, entry] of entries) {
      const payload = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patientResource(`regression-tx-${name}`), request: { method: 'POST', url: 'Patient' } }, entry] };
      const res = await leavesNoTrace(t, name, ['Patient'], () => app.inject({ method: 'POST', url: '/fhir', headers: json, payload }));
      refused(t, res, [400], name);
    }
  });

  t.test('POST /fhir/Binary refused after its bytes were received keeps no bytes', async (t) => {
    const res = await leavesNoTrace(t, 'contentType: 7', ['Binary'], () => app.inject({ method: 'POST', url: '/fhir/Binary', headers: json, payload: { resourceType: 'Binary', contentType: 7, data: Buffer.from('secret bytes').toString('base64') } }));
    refused(t, res, [400], 'contentType: 7');
    // Raw bytes refused after they were received (a malformed If-None-Exist) are not kept either.
    const conditional = await leavesNoTrace(t, 'If-None-Exist: identifier=', ['Binary'], () => app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'application/pdf', 'if-none-exist': 'identifier=' }, payload: Buffer.from('%PDF-1.4 refused') }));
    refused(t, conditional, [400], 'If-None-Exist: identifier=');
  });

  t.test('a path with broken percent-encoding: 400 OperationOutcome', async (t) => {
    for (const url of ['/fhir/Patient/%E0%A4%A', '/fhir/Patient/%E0%A4%A/_history', '/fhir/%ZZ']) {
      const res = await app.inject({ url, headers: { authorization } });
      refused(t, res, [400], url);
      t.match(String(res.headers['content-type']), /^application\/fhir\+json/, `${url}: FHIR JSON`);
    }
  });

  t.test('GET /fhir/subscriptions/ws without a websocket upgrade: 4xx OperationOutcome', async (t) => {
    const res = await app.inject({ url: '/fhir/subscriptions/ws', headers: { authorization } });
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `4xx, got ${res.statusCode}`);
    t.ok(isOutcome(safeJson(res.body)), `an OperationOutcome, got ${JSON.stringify(res.body)} (${String(res.headers['content-type'] ?? 'no content-type')})`);
  });

  t.test('a Bundle entry whose request.method is an Object.prototype name: refused as a code that is no HTTP method, naming the entry', async (t) => {
    for (const method of ['toString', 'constructor', '__proto__']) {
      const res = await app.inject({ method: 'POST', url: '/fhir', headers: json, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method, url: `Patient/${PATIENT_ID}` } }] } });
      // The Bundle's own shape is checked first: a code outside the required value set is a 422, as in any resource.
      refused(t, res, [400, 422], `method ${method}`);
      t.match(res.body, /Bundle\.entry\[0\]/, `method ${method}: the entry is named`);
    }
  });

  t.test('GET /fhir/Binary/_history is the type history of Binary, not a read of id "_history"', async (t) => {
    await app.inject({ method: 'POST', url: '/fhir/Binary', headers: { authorization, 'content-type': 'text/plain' }, payload: 'history me' });
    const res = await app.inject({ url: '/fhir/Binary/_history', headers: { authorization } });
    t.equal(res.statusCode, 200, `200, got ${res.statusCode} ${abbreviate(res.body, 200)}`);
    t.equal((safeJson(res.body) as { type?: string } | undefined)?.type, 'history');
  });
});

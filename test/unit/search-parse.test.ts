import t from 'tap';
import type { Test } from 'tap';
import { BadRequestError } from '../../src/errors.js';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import type { ParseOptions } from '../../src/fhir/search/parse.js';
import { formatSearchQuery } from '../../src/store/search-executor.js';

const OPTIONS: ParseOptions = { strict: false, defaultCount: 20, maxCount: 100, baseUrl: 'https://carnet.example/fhir' };
const parse = (type: string, query: Array<[string, string]>, options: Partial<ParseOptions> = {}) =>
  parseSearchRequest([type], query, { ...OPTIONS, ...options });

function rejects(t: Test, type: string, query: Array<[string, string]>, param: string): void {
  const label = query.map(([k, v]) => `${k}=${v}`).join('&');
  try {
    parse(type, query);
    t.fail(`${label} should be refused`);
  } catch (err) {
    t.ok(err instanceof BadRequestError, `${label}: BadRequestError`);
    const e = err as BadRequestError;
    t.equal(e.statusCode, 400);
    t.same(e.issues[0]?.expression, [param], `${label}: names ${param}`);
  }
}

t.test('malformed values are 400 naming the parameter', async (t) => {
  rejects(t, 'Observation', [['date', '2024-13-01']], 'date');
  rejects(t, 'Observation', [['date', 'gt']], 'date');
  rejects(t, 'Observation', [['date', 'yesterday']], 'date');
  rejects(t, 'Patient', [['birthdate', '1970-02-30']], 'birthdate');
  rejects(t, 'Observation', [['_lastUpdated', 'ge2024-01-01T25:00:00Z']], '_lastUpdated');
  rejects(t, 'Observation', [['value-quantity', 'gtabc']], 'value-quantity');
  rejects(t, 'Observation', [['value-quantity', '5|a']], 'value-quantity');
  rejects(t, 'Observation', [['code:foo', 'x']], 'code:foo');
  rejects(t, 'Patient', [['family:not', 'x']], 'family:not');
  rejects(t, 'Observation', [['code:missing', 'maybe']], 'code:missing');
  rejects(t, 'Observation', [['_count', '-1']], '_count');
  rejects(t, 'Observation', [['_count', '2.5']], '_count');
  rejects(t, 'Observation', [['_count', 'ten']], '_count');
  rejects(t, 'Observation', [['_total', 'all']], '_total');
  rejects(t, 'Observation', [['_summary', 'yes']], '_summary');
  rejects(t, 'Observation', [['_sort', 'nonsense']], '_sort');
  rejects(t, 'Observation', [['_sort', 'date,-date']], '_sort');
  rejects(t, 'Observation', [['_sort', 'date'], ['_sort', 'date']], '_sort');
  rejects(t, 'Observation', [['_sort', 'date,code,status,category,subject,_id,_lastUpdated']], '_sort');
  t.equal(parse('Observation', [['_sort', 'date,code,status,category,subject,_id']]).sort.length, 6, 'six sort parameters are fine');
  rejects(t, 'Observation', [['_include', 'Observation:nonsense']], '_include');
  rejects(t, 'Observation', [['_include', 'Patient:organization']], '_include');
  rejects(t, 'Observation', [['_id', 'a b']], '_id');
  rejects(t, 'Observation', [['code', 'a|b|c']], 'code');
  rejects(t, 'Observation', [['code', '']], 'code');
  rejects(t, 'Observation', [['code:in', 'http://example.org/unknown-value-set']], 'code:in');
  rejects(t, 'Patient', [['identifier:of-type', 'only-two|parts']], 'identifier:of-type');
  rejects(t, 'Observation', [['component-code-value-quantity', 'http://loinc.org|8480-6']], 'component-code-value-quantity');
  rejects(t, 'Observation', [['subject:Nonsense', '1']], 'subject:Nonsense');
  rejects(t, 'Observation', [['status.name', 'x']], 'status.name');
  rejects(t, 'Patient', [['_has:Observation:code:status', 'final']], '_has:Observation:code:status');
  rejects(t, 'Patient', [['_has:Observation', 'x']], '_has:Observation');
});

t.test('unknown parameters are collected, or refused when strict', async (t) => {
  const req = parse('Patient', [['family', 'x'], ['colour', 'blue'], ['colour', 'red'], ['_text', 'x']]);
  t.same(req.unknown, ['colour', '_text']);
  t.equal(req.clauses.length, 1);
  t.throws(() => parse('Patient', [['colour', 'blue']], { strict: true }), BadRequestError);
  t.same(parse('Patient', [['_format', 'json'], ['_pretty', 'true']], { strict: true }).unknown, [], 'transport parameters are not search parameters');
});

t.test('_count is capped, result parameters are read', async (t) => {
  t.equal(parse('Patient', []).count, 20);
  t.equal(parse('Patient', [['_count', '5']]).count, 5);
  t.equal(parse('Patient', [['_count', '0']]).count, 0);
  t.equal(parse('Patient', [['_count', '100000']]).count, 100);
  const req = parse('Observation', [['_sort', '-date,_id'], ['_total', 'accurate'], ['_summary', 'count'], ['_elements', 'code,subject'],
    ['_include', 'Observation:patient'], ['_include:iterate', 'Patient:general-practitioner'], ['_revinclude', 'Provenance:target'], ['_cursor', 'abc']]);
  t.same(req.sort, [{ code: 'date', descending: true }, { code: '_id', descending: false }]);
  t.equal(req.total, 'accurate');
  t.equal(req.summary, 'count');
  t.same(req.elements, ['code', 'subject']);
  t.match(req.include, [{ type: 'Observation', code: 'patient', iterate: false }, { type: 'Patient', code: 'general-practitioner', iterate: true }]);
  t.match(req.revinclude, [{ type: 'Provenance', code: 'target' }]);
  t.equal(req.cursor, 'abc');
});

t.test('token forms', async (t) => {
  const values = (v: string, name = 'code') => (parse('Observation', [[name, v]]).clauses[0] as { values: unknown[] }).values;
  t.same(values('http://loinc.org|29463-7'), [{ kind: 'token', system: 'http://loinc.org', code: '29463-7' }]);
  t.same(values('29463-7'), [{ kind: 'token', code: '29463-7' }]);
  t.same(values('|29463-7'), [{ kind: 'token', system: null, code: '29463-7' }]);
  t.same(values('http://loinc.org|'), [{ kind: 'token', system: 'http://loinc.org' }]);
  t.same(values('a,b\\,c'), [{ kind: 'token', code: 'a' }, { kind: 'token', code: 'b,c' }], 'escaped comma stays in the value');
  t.same(values('Body', 'code:text'), [{ kind: 'token-text', text: 'body' }]);
  t.match(values('http://hl7.org/fhir/ValueSet/observation-status', 'status:in'), [{ kind: 'token-set', codes: ['http://hl7.org/fhir/observation-status|registered', 'http://hl7.org/fhir/observation-status|preliminary'] }]);
});

t.test('reference forms', async (t) => {
  const values = (name: string, v: string) => (parse('Observation', [[name, v]]).clauses[0] as { values: unknown[] }).values;
  t.same(values('subject', '123'), [{ kind: 'reference', id: '123' }]);
  t.same(values('subject', 'Patient/123'), [{ kind: 'reference', ref: 'Patient/123' }]);
  t.same(values('subject:Patient', '123'), [{ kind: 'reference', ref: 'Patient/123' }]);
  t.same(values('subject', 'https://carnet.example/fhir/Patient/123'), [{ kind: 'reference', ref: 'Patient/123' }], 'our own base is local');
  t.same(values('subject', 'https://other.example/fhir/Patient/123'), [{ kind: 'reference', ref: 'https://other.example/fhir/Patient/123' }]);
  t.same(values('subject', 'Patient/123/_history/4'), [{ kind: 'reference', ref: 'Patient/123' }]);
  t.same(values('subject:identifier', 'urn:oid:1.2.250.1.213.1.4.8|123'), [{ kind: 'reference-identifier', system: 'urn:oid:1.2.250.1.213.1.4.8', value: '123' }]);
});

t.test('prefixes on dates, numbers and quantities', async (t) => {
  const v = (name: string, value: string) => (parse('Observation', [[name, value]]).clauses[0] as unknown as { values: Array<Record<string, unknown>> }).values[0]!;
  t.match(v('date', 'ge2024-03'), { prefix: 'ge', lo: Date.UTC(2024, 2, 1), hi: Date.UTC(2024, 3, 1) - 1 });
  t.match(v('date', '2024-03-01T10:00:00+02:00'), { prefix: 'eq', lo: Date.UTC(2024, 2, 1, 8), hi: Date.UTC(2024, 2, 1, 8) + 999 });
  t.match(v('date', '2024-03-01T10:00:00 02:00'), { lo: Date.UTC(2024, 2, 1, 8) }, 'a + decoded as a space is still a zone');
  t.match(v('value-quantity', 'lt5.4|http://unitsofmeasure.org|mg'), { prefix: 'lt', n: 5.4, system: 'http://unitsofmeasure.org', code: 'mg' });
  t.match(v('value-quantity', '5.4||mg'), { prefix: 'eq', n: 5.4, code: 'mg' });
  t.match(v('value-quantity', '100'), { lo: 99.5, hi: 100.5 });
});

t.test('chains and _has', async (t) => {
  const chain = parse('Observation', [['subject:Patient.identifier', 'urn:oid:1.2.250.1.213.1.4.8|1']]).clauses[0]!;
  t.match(chain, { kind: 'chain', code: 'subject', targets: ['Patient'], next: { kind: 'param', code: 'identifier' } });
  const open = parse('Observation', [['subject.name', 'x']]).clauses[0]!;
  t.match(open, { kind: 'chain', code: 'subject' });
  t.ok((open as { targets: string[] }).targets.includes('Patient') && !(open as { targets: string[] }).targets.includes('Device'), 'only targets with the chained parameter');
  const deep = parse('Observation', [['patient.general-practitioner.family', 'x']]).clauses[0]!;
  t.match(deep, { kind: 'chain', next: { kind: 'chain', code: 'general-practitioner', next: { code: 'family' } } });
  const has = parse('Patient', [['_has:Observation:patient:_has:AuditEvent:entity:agent', 'Practitioner/1']]).clauses[0]!;
  t.match(has, { kind: 'has', type: 'Observation', ref: 'patient', next: { kind: 'has', type: 'AuditEvent', ref: 'entity' } });
});

t.test('formatSearchQuery gives the canonical self parameters', async (t) => {
  const req = parse('Observation', [['code', 'a,b'], ['date', 'ge2024'], ['colour', 'x'], ['_sort', '-date'], ['_count', '7'], ['_cursor', 'zz'], ['_include', 'Observation:patient']]);
  t.same(formatSearchQuery(req), [['code', 'a,b'], ['date', 'ge2024'], ['_sort', '-date'], ['_count', '7'], ['_include', 'Observation:patient']]);
});

t.test('system-level search with _type', async (t) => {
  const req = parseSearchRequest([], [['_type', 'Patient,Observation'], ['_tag', 'x']], OPTIONS);
  t.same(req.types, ['Patient', 'Observation']);
  t.throws(() => parseSearchRequest([], [['_type', 'Nope']], OPTIONS), BadRequestError);
});

t.test('a page size, cursor, total or summary given twice is a 400 naming it, not the last one silently', async (t) => {
  for (const name of ['_count', '_cursor', '_total', '_summary']) {
    const value = name === '_count' ? '5' : name === '_total' ? 'accurate' : name === '_summary' ? 'count' : 'abc';
    t.throws(() => parseSearchRequest(['Observation'], [[name, value], [name, value]], { defaultCount: 20, maxCount: 100, strict: false }),
      { statusCode: 400, code: 'FHIR_ERR_REST_REPEATED_PARAM', message: new RegExp(`${name} may be given once`) }, name);
  }
  t.doesNotThrow(() => parseSearchRequest(['Observation'], [['_include', 'Observation:subject'], ['_include', 'Observation:performer']], { defaultCount: 20, maxCount: 100, strict: false }), '_include may repeat');
});

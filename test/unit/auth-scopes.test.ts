import t from 'tap';
import { formatScopes, intersectScopes, InvalidScopeError, parseScopes, scopeAllows } from '../../src/auth/scopes.js';
import type { ResourceScope } from '../../src/auth/scopes.js';

const perms = (s: ResourceScope) => [...s.interactions].sort().join('');
const one = (scope: string) => parseScopes(scope).resources[0]!;

t.test('v2 scopes: context, type, permissions in cruds order', async (t) => {
  const s = one('patient/Observation.rs');
  t.equal(s.context, 'patient');
  t.equal(s.resourceType, 'Observation');
  t.equal(perms(s), 'rs');
  t.equal(s.raw, 'patient/Observation.rs');
  t.equal(perms(one('system/*.cruds')), 'cdrsu');
  t.equal(perms(one('user/Patient.u')), 'u');
  t.equal(one('system/*.cruds').resourceType, '*');
});

t.test('v1 permissions map onto v2', async (t) => {
  t.equal(perms(one('patient/Observation.read')), 'rs');
  t.equal(perms(one('user/Patient.write')), 'cdu');
  t.equal(perms(one('system/*.*')), 'cdrsu');
});

t.test('restrictions are kept as ordered pairs', async (t) => {
  const s = one('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs&status=final');
  t.same(s.query, [
    ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs'],
    ['status', 'final'],
  ]);
  t.equal(one('patient/Observation.rs').query, undefined);
});

t.test('special scopes and ignored ones', async (t) => {
  const p = parseScopes('openid fhirUser launch launch/patient offline_access online_access profile launch/encounter patient/Patient.r');
  t.same([...p.special].sort(), ['fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access', 'openid']);
  t.same(p.ignored, ['profile', 'launch/encounter']);
  t.equal(p.resources.length, 1);
  t.same(parseScopes('  ').resources, []);
});

t.test('malformed scopes and unknown types are rejected', async (t) => {
  for (const bad of [
    'patient/Observation.sr', // out of order
    'patient/Observation.rr',
    'patient/Observation.',
    'patient/Observation.x',
    'patient/Observation.readwrite',
    'patient/Foo.rs', // unknown type
    'patient/Resource.rs', // abstract
    'patient/observation.rs',
    'system/Observation.rs?status',
    'system/Observation.rs?=final',
    'system/Observation.rs?status=',
    'patient/Observation.rs?a=%E0%A4%A',
    'patient/Observation',
    'user/*',
    'openid\u0007',
  ]) {
    t.throws(() => parseScopes(bad), InvalidScopeError, bad);
  }
  t.throws(() => parseScopes('patient/Observation.rs patient/Foo.r'), { code: 'FHIR_ERR_AUTH_SCOPE', statusCode: 400 });
});

t.test('scopeAllows returns the granting scopes', async (t) => {
  const { resources } = parseScopes('patient/Observation.rs patient/*.r user/Patient.u');
  t.same(scopeAllows(resources, 'r', 'Observation').map((s) => s.raw), ['patient/Observation.rs', 'patient/*.r']);
  t.same(scopeAllows(resources, 's', 'Observation').map((s) => s.raw), ['patient/Observation.rs']);
  t.same(scopeAllows(resources, 's', 'Condition').map((s) => s.raw), []);
  t.same(scopeAllows(resources, 'r', 'Condition').map((s) => s.raw), ['patient/*.r']);
  t.same(scopeAllows(resources, 'c', 'Patient'), []);
});

t.test('intersectScopes: the narrower result wins', async (t) => {
  const grant = (requested: string, allowed: string) =>
    formatScopes({ resources: intersectScopes(parseScopes(requested).resources, parseScopes(allowed).resources) });
  t.equal(grant('system/Observation.rs', 'system/*.cruds'), 'system/Observation.rs');
  t.equal(grant('system/*.cruds', 'system/Observation.rs system/Patient.r'), 'system/Observation.rs system/Patient.r');
  t.equal(grant('system/Observation.cruds', 'system/*.rs'), 'system/Observation.rs');
  t.equal(grant('system/Observation.read', 'system/*.cruds'), 'system/Observation.read', 'an unchanged v1 scope is echoed as asked');
  t.equal(grant('system/*.read', 'system/Observation.*'), 'system/Observation.rs');
  t.equal(grant('patient/Observation.rs', 'system/*.cruds'), '', 'contexts never cross');
  t.equal(grant('system/Observation.c', 'system/Observation.rs'), '');
  t.equal(grant('system/Patient.r', 'system/Observation.rs'), '');
  t.equal(
    grant('patient/Observation.rs', 'patient/Observation.rs?category=vital-signs'),
    'patient/Observation.rs?category=vital-signs',
    'an allowed restriction carries over',
  );
  t.equal(grant('patient/Observation.rs?status=final', 'patient/*.rs'), 'patient/Observation.rs?status=final');
  t.equal(grant('system/Observation.rs system/Observation.read', 'system/*.cruds'), 'system/Observation.rs', 'equivalent scopes are granted once');
});

t.test('intersectScopes: a scope implied by another granted one is dropped', async (t) => {
  const grant = (requested: string, allowed: string) =>
    formatScopes({ resources: intersectScopes(parseScopes(requested).resources, parseScopes(allowed).resources) });
  t.equal(grant('patient/*.rs', 'patient/*.cruds patient/DocumentReference.rs'), 'patient/*.rs');
  t.equal(grant('patient/*.rs patient/DocumentReference.rs', 'patient/*.cruds'), 'patient/*.rs');
  t.equal(grant('patient/Observation.rs?status=final patient/Observation.rs', 'patient/*.cruds'), 'patient/Observation.rs', 'an unrestricted scope covers a restricted one');
  t.equal(grant('patient/Observation.r patient/Observation.s', 'patient/*.cruds'), 'patient/Observation.r patient/Observation.s', 'neither covers the other');
  t.equal(grant('patient/Observation.rs?a=1&status=final patient/Observation.rs?status=final&a=1', 'patient/*.rs'), 'patient/Observation.rs?a=1&status=final', 'of equivalent ones, the first stays');
  t.equal(grant('user/*.rs patient/Observation.rs', 'user/*.cruds patient/*.cruds'), 'user/*.rs patient/Observation.rs', 'contexts never cover each other');
});

import t from 'tap';
import { isFhirId, parseLocalReference, parseRelativeReference, parseTypedUrl, relativeToBase } from '../../src/fhir/references.js';
import { isValidId } from '../../src/fhir/resource-types.js';

const BASE = 'https://carnet.example/fhir';
const LONGEST_ID = 'a'.repeat(64);

t.test('isFhirId: 1 to 64 of A-Z a-z 0-9 - . (datatypes.html#id), as isValidId', async (t) => {
  for (const id of ['1', 'a-B.9', LONGEST_ID, '0e4c1c4e-6d7e-4c9e-9d3c-7c8c2d9f7b11']) t.ok(isFhirId(id), id);
  for (const id of ['', 'a'.repeat(65), 'a b', 'a#b', 'a/b', 'a_b', 'é', 'a\n', ' a']) t.notOk(isFhirId(id), JSON.stringify(id));
  for (const id of ['1', LONGEST_ID, 'a'.repeat(65), 'a b', 'a\n', '']) t.equal(isFhirId(id), isValidId(id), `agrees with isValidId on ${JSON.stringify(id)}`);
});

t.test('parseRelativeReference: Type/id and nothing else', async (t) => {
  t.same(parseRelativeReference('Patient/123'), { type: 'Patient', id: '123' });
  t.same(parseRelativeReference(`DocumentReference/${LONGEST_ID}`), { type: 'DocumentReference', id: LONGEST_ID });
  t.same(parseRelativeReference('Foo/1'), { type: 'Foo', id: '1' }, 'whether the type exists is the caller\'s check');
  for (const text of [
    '', 'Patient', 'Patient/', '/Patient/1', 'Patient/1/', `Patient/${'a'.repeat(65)}`, 'Patient/a b', 'Patient/a#b',
    'patient/1', 'P/1', 'Pa1ient/1', '#p1', 'urn:uuid:0e4c1c4e', 'Patient?identifier=x|1', 'Patient/1?x=1',
    `${BASE}/Patient/1`, 'http://other.example/fhir/Patient/1', 'Patient/1/_history/2',
  ]) t.equal(parseRelativeReference(text), undefined, JSON.stringify(text));
});

t.test('parseRelativeReference: a version only where the caller allows one', async (t) => {
  t.equal(parseRelativeReference('Patient/1/_history/2'), undefined, 'none by default');
  t.same(parseRelativeReference('Patient/1/_history/2', { version: 'id' }), { type: 'Patient', id: '1', version: '2' });
  t.same(parseRelativeReference('Patient/1', { version: 'id' }), { type: 'Patient', id: '1' }, 'no version property when none is written');
  t.notOk('version' in parseRelativeReference('Patient/1', { version: 'any' })!);
  t.equal(parseRelativeReference('Patient/1/_history/a_b', { version: 'id' }), undefined, 'a versionId is an id');
  t.same(parseRelativeReference('Patient/1/_history/a_b', { version: 'any' }), { type: 'Patient', id: '1', version: 'a_b' }, 'any one segment');
  for (const version of ['id', 'any'] as const) {
    for (const text of ['Patient/1/_history/', 'Patient/1/_history/2/3', 'Patient/1/history/2', 'Patient/1/_history']) {
      t.equal(parseRelativeReference(text, { version }), undefined, `${text} (${version})`);
    }
  }
});

t.test('parseTypedUrl: relative, or any URL whose last segments are Type/id', async (t) => {
  t.same(parseTypedUrl('Patient/1'), { type: 'Patient', id: '1' });
  t.same(parseTypedUrl(`${BASE}/Patient/1`), { type: 'Patient', id: '1' });
  t.same(parseTypedUrl('http://other.example/fhir/Observation/o.1'), { type: 'Observation', id: 'o.1' }, 'on another server too');
  t.same(parseTypedUrl('/Patient/1'), { type: 'Patient', id: '1' });
  t.equal(parseTypedUrl('http://other.example/fhir/xPatient/1'), undefined, 'the type is a whole segment');
  t.equal(parseTypedUrl('http://other.example/fhir/patient/1'), undefined, 'a type starts with a capital');
  t.equal(parseTypedUrl(`http://other.example/fhir/Patient/${'a'.repeat(65)}`), undefined, 'an id has 64 characters at most');
  t.equal(parseTypedUrl('http://other.example/fhir/Patient/1/'), undefined);
  t.equal(parseTypedUrl('http://other.example/fhir/Patient/1?x=1'), undefined);
  t.equal(parseTypedUrl('urn:uuid:0e4c1c4e-6d7e-4c9e-9d3c-7c8c2d9f7b11'), undefined);
  t.equal(parseTypedUrl('#Patient/1'), undefined, 'a contained reference names no Type/id');
  t.equal(parseTypedUrl('http://other.example/fhir/Patient/1/_history/2'), undefined, 'no version by default');
  t.same(parseTypedUrl('http://other.example/fhir/Patient/1/_history/2', { version: 'id' }), { type: 'Patient', id: '1', version: '2' });
  t.same(parseTypedUrl('Group/g/_history/1', { version: 'id' }), { type: 'Group', id: 'g', version: '1' });
});

t.test('relativeToBase and parseLocalReference: this server\'s base, and only it, is taken off', async (t) => {
  t.equal(relativeToBase(`${BASE}/Patient/1`, BASE), 'Patient/1');
  t.equal(relativeToBase('Patient/1', BASE), 'Patient/1');
  t.equal(relativeToBase('http://other.example/fhir/Patient/1', BASE), 'http://other.example/fhir/Patient/1');
  t.equal(relativeToBase(`${BASE}x/Patient/1`, BASE), `${BASE}x/Patient/1`, 'a base is followed by a slash');
  t.equal(relativeToBase(BASE, BASE), BASE);

  t.same(parseLocalReference(`${BASE}/DocumentReference/d1`, BASE), { type: 'DocumentReference', id: 'd1' });
  t.same(parseLocalReference('DocumentReference/d1', BASE), { type: 'DocumentReference', id: 'd1' });
  t.equal(parseLocalReference('http://other.example/fhir/DocumentReference/d1', BASE), undefined, 'another server\'s resource is not stored here');
  t.equal(parseLocalReference(`${BASE}/DocumentReference/d1/_history/2`, BASE), undefined);
  t.same(parseLocalReference(`${BASE}/DocumentReference/d1/_history/2`, BASE, { version: 'id' }), { type: 'DocumentReference', id: 'd1', version: '2' });
  t.equal(parseLocalReference(`${BASE}/documentReference/d1`, BASE), undefined);
});

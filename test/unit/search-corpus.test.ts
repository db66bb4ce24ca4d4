import t from 'tap';
import { parseSearchRequest } from '../../src/fhir/search/parse.js';
import { executeSearch } from '../../src/store/search-executor.js';
import type { StoreEngine } from '../../src/store/engine.js';
import {
  buildCorpus, CLASSE, CONFIDENTIALITY, DOC_CLASSES, DOC_TYPES, INS, LOINC, OBS_CATEGORY, TAG_SYSTEM, UCUM, VISIBILITE, VISIBILITY_CODES, VITALS,
  VITALS_PROFILE,
} from '../fixtures/search/corpus.js';
import type { Json } from '../fixtures/search/corpus.js';
import { engineWith } from '../fixtures/search/load.js';
import type { Prefix } from '../fixtures/search/reference.js';
import { codings, dateMatches, fold, numberMatches, rangeOf, rangesOfElement, refOf, refs } from '../fixtures/search/reference.js';

/**
 * Several hundred queries over the corpus, each with its expected result
 * computed by the plain matcher of test/fixtures/search/reference.ts over the
 * raw JSON, run through parseSearchRequest + executeSearch on the embedded
 * engine and read page by page through the cursors.
 */

interface Case {
  type: string;
  query: Array<[string, string]>;
  match: (r: Json) => boolean;
}

const corpus = buildCorpus();
const byRef = new Map(corpus.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e]));
const of = (type: string): Json[] => corpus.filter((e) => e.resource.resourceType === type).map((e) => e.resource);
const tsOf = new Map(corpus.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.ts]));
const resolve = (ref: string | undefined): Json | undefined => (ref ? byRef.get(ref)?.resource : undefined);
const PREFIXES: Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'];

const nameParts = (r: Json): string[] => (r.name ?? []).flatMap((n: Json) => [n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? []), n.text].filter(Boolean));
const families = (r: Json): string[] => (r.name ?? []).map((n: Json) => n.family).filter(Boolean);
const hasCoding = (list: Json[], system: string | undefined, code: string | undefined): boolean =>
  list.some((c) => (system === undefined || c.system === system) && (code === undefined || c.code === code));

const cases: Case[] = [];
const add = (type: string, query: Array<[string, string]>, match: (r: Json) => boolean): void => {
  cases.push({ type, query, match });
};

// ---- Patient
for (const family of new Set(of('Patient').flatMap(families))) {
  const prefix = fold(family).slice(0, 3);
  add('Patient', [['family', prefix]], (r) => families(r).some((f) => fold(f).startsWith(prefix)));
  add('Patient', [['family', family.toUpperCase()]], (r) => families(r).some((f) => fold(f).startsWith(fold(family))));
  add('Patient', [['family:exact', family]], (r) => families(r).includes(family));
}
for (const given of ['Hélène', 'helene', 'ZOE', 'Noel', 'Jérôme', 'anais', 'lea', 'Maë', 'eve', 'émile', 'É']) {
  add('Patient', [['name', given]], (r) => nameParts(r).some((p) => fold(p).startsWith(fold(given))));
  add('Patient', [['given:exact', given]], (r) => (r.name ?? []).some((n: Json) => (n.given ?? []).includes(given)));
}
for (const part of ['an', 'è', 'LL', 'on', 'ier']) {
  add('Patient', [['family:contains', part]], (r) => families(r).some((f) => fold(f).includes(fold(part))));
}
add('Patient', [['gender', 'male']], (r) => r.gender === 'male');
add('Patient', [['gender', 'male,female']], (r) => r.gender === 'male' || r.gender === 'female');
for (const d of ['1950', '1955-03', '1962-04-14', '1944', '1951-02-10', '1960']) {
  for (const p of PREFIXES) {
    add('Patient', [['birthdate', `${p}${d}`]], (r) => r.birthDate !== undefined && dateMatches(p, rangeOf(r.birthDate), rangeOf(d)));
  }
}
add('Patient', [['birthdate:missing', 'true']], (r) => r.birthDate === undefined);
add('Patient', [['birthdate:missing', 'false']], (r) => r.birthDate !== undefined);
add('Patient', [['name:missing', 'true']], (r) => !r.name);
for (const p of of('Patient').filter((_, i) => i % 5 === 0)) {
  const value = p.identifier[0].value as string;
  add('Patient', [['identifier', `${INS}|${value}`]], (r) => r.identifier?.some((i: Json) => i.system === INS && i.value === value));
  add('Patient', [['identifier', value]], (r) => r.identifier?.some((i: Json) => i.value === value));
  add('Patient', [['identifier', `|${value}`]], (r) => r.identifier?.some((i: Json) => !i.system && i.value === value));
  add('Patient', [['phone', p.telecom[0].value]], (r) => r.telecom?.some((c: Json) => c.system === 'phone' && c.value === p.telecom[0].value));
}
add('Patient', [['identifier', `${INS}|`]], (r) => r.identifier?.some((i: Json) => i.system === INS));
for (const city of ['saint', 'Besancon', 'NÎMES', 'lyon', 'x']) {
  add('Patient', [['address-city', city]], (r) => (r.address ?? []).some((a: Json) => a.city && fold(a.city).startsWith(fold(city))));
}
add('Patient', [['_id', 'pat1,pat2,pat22,nobody']], (r) => ['pat1', 'pat2', 'pat22'].includes(r.id));
add('Patient', [['_tag', `${TAG_SYSTEM}|patient`]], (r) => hasCoding(r.meta?.tag ?? [], TAG_SYSTEM, 'patient'));
add('Patient', [['_tag', 'pro']], (r) => hasCoding(r.meta?.tag ?? [], undefined, 'pro'));
add('Patient', [['_tag:not', `${TAG_SYSTEM}|patient`]], (r) => !hasCoding(r.meta?.tag ?? [], TAG_SYSTEM, 'patient'));
add('Patient', [['_tag:missing', 'true']], (r) => !r.meta?.tag);
for (const ts of [corpus[10]!.ts, corpus[20]!.ts]) {
  const iso = new Date(ts).toISOString();
  for (const p of ['ge', 'gt', 'lt', 'le', 'eq'] as const) {
    add('Patient', [['_lastUpdated', `${p}${iso}`]], (r) => {
      const v = tsOf.get(`Patient/${r.id}`)!;
      return p === 'ge' ? v >= ts : p === 'gt' ? v > ts : p === 'lt' ? v < ts : p === 'le' ? v <= ts : v === ts;
    });
  }
}
const observationsOf = (patient: string): Json[] => of('Observation').filter((o) => o.subject.reference === `Patient/${patient}`);
for (const code of ['85354-9', '29463-7', '2708-6']) {
  add('Patient', [['_has:Observation:patient:code', code]], (r) => observationsOf(r.id).some((o) => hasCoding(codings(o.code), undefined, code)));
}
add('Patient', [['_has:DocumentReference:subject:security-label', `${VISIBILITE}|MASQUE_PS`]], (r) => of('DocumentReference')
  .some((d) => d.subject.reference === `Patient/${r.id}` && hasCoding(codings(d.securityLabel), VISIBILITE, 'MASQUE_PS')));
add('Patient', [['gender', 'female'], ['_has:Observation:patient:code', '8310-5']], (r) => r.gender === 'female'
  && observationsOf(r.id).some((o) => hasCoding(codings(o.code), undefined, '8310-5')));

// ---- Observation
const obsCodes = (o: Json): Json[] => codings(o.code);
for (const v of [...VITALS.map((x) => x.code), '85354-9', '8480-6']) {
  add('Observation', [['code', `${LOINC}|${v}`]], (o) => hasCoding(obsCodes(o), LOINC, v));
  add('Observation', [['code', v]], (o) => hasCoding(obsCodes(o), undefined, v));
  add('Observation', [['code:not', v]], (o) => !hasCoding(obsCodes(o), undefined, v));
  add('Observation', [['combo-code', v]], (o) => hasCoding([...obsCodes(o), ...(o.component ?? []).flatMap((c: Json) => codings(c.code))], undefined, v));
}
add('Observation', [['code', `${LOINC}|`]], (o) => hasCoding(obsCodes(o), LOINC, undefined));
add('Observation', [['code', `http://snomed.info/sct|`]], () => false);
add('Observation', [['code', '29463-7,8302-2']], (o) => hasCoding(obsCodes(o), undefined, '29463-7') || hasCoding(obsCodes(o), undefined, '8302-2'));
// :text matches CodeableConcept.text or any Coding.display (search.html#modifiers); 'blood' only a display behind a text.
for (const text of ['body', 'Tension', 'arterielle', 'oxygen sat', 'blood', 'xyz']) {
  add('Observation', [['code:text', text]], (o) => [o.code.text, ...o.code.coding.map((c: Json) => c.display)]
    .some((t: string | undefined) => t !== undefined && fold(t).startsWith(fold(text))));
}
add('Observation', [['category', `${OBS_CATEGORY}|vital-signs`]], () => true);
add('Observation', [['status', 'amended']], (o) => o.status === 'amended');
add('Observation', [['status:not', 'final']], (o) => o.status !== 'final');
for (const p of ['pat0', 'pat3', 'pat11', 'pat23']) {
  add('Observation', [['patient', p]], (o) => o.subject.reference === `Patient/${p}`);
  add('Observation', [['subject', `Patient/${p}`]], (o) => o.subject.reference === `Patient/${p}`);
  add('Observation', [['subject:Patient', p]], (o) => o.subject.reference === `Patient/${p}`);
  add('Observation', [['patient', p], ['code', '29463-7']], (o) => o.subject.reference === `Patient/${p}` && hasCoding(obsCodes(o), undefined, '29463-7'));
}
add('Observation', [['subject', 'Patient/pat1,Patient/pat2']], (o) => ['Patient/pat1', 'Patient/pat2'].includes(o.subject.reference));
for (const family of ['dupre', 'LEF', 'Müller', 'œil', 'zz']) {
  add('Observation', [['patient.family', family]], (o) => families(resolve(o.subject.reference) ?? {}).some((f) => fold(f).startsWith(fold(family))));
  add('Observation', [['subject:Patient.name', family]], (o) => nameParts(resolve(o.subject.reference) ?? {}).some((f) => fold(f).startsWith(fold(family))));
}
for (const p of of('Patient').filter((_, i) => i % 6 === 1)) {
  const ins = `${INS}|${p.identifier[0].value}`;
  add('Observation', [['patient.identifier', ins]], (o) => o.subject.reference === `Patient/${p.id}`);
  add('Observation', [['subject:Patient.identifier', ins], ['code', '85354-9']], (o) => o.subject.reference === `Patient/${p.id}` && hasCoding(obsCodes(o), undefined, '85354-9'));
}
add('Observation', [['patient.gender', 'male'], ['patient.birthdate', 'lt1955']], (o) => {
  const p = resolve(o.subject.reference)!;
  return p.gender === 'male' && p.birthDate !== undefined && dateMatches('lt', rangeOf(p.birthDate), rangeOf('1955'));
});
add('Observation', [['patient._has:DocumentReference:subject:status', 'superseded']], (o) => of('DocumentReference')
  .some((d) => d.subject.reference === o.subject.reference && d.status === 'superseded'));
for (const pr of ['pr0', 'pr1', 'pr3']) {
  add('Observation', [['performer', `Practitioner/${pr}`]], (o) => refs(o.performer).includes(`Practitioner/${pr}`));
}
add('Observation', [['performer:missing', 'true']], (o) => !o.performer);
add('Observation', [['performer.identifier', `${'https://rpps.esante.gouv.fr'}|10000000002`]], (o) => refs(o.performer).includes('Practitioner/pr2'));
for (const d of ['2020', '2021-06', '2022-03-15', '2023-07-04T10:00:00Z', '2019-12-31T23:59:59+02:00', '2024-02']) {
  for (const p of PREFIXES) {
    add('Observation', [['date', `${p}${d}`]], (o) => {
      const ranges = rangesOfElement(o, 'effective');
      if (ranges.length === 0) return false;
      return p === 'ne' ? ranges.every((x) => dateMatches('ne', x, rangeOf(d))) : ranges.some((x) => dateMatches(p, x, rangeOf(d)));
    });
  }
}
add('Observation', [['date', 'ge2021'], ['date', 'lt2023']], (o) => {
  const ranges = rangesOfElement(o, 'effective');
  return ranges.some((x) => dateMatches('ge', x, rangeOf('2021'))) && ranges.some((x) => dateMatches('lt', x, rangeOf('2023')));
});
add('Observation', [['date:missing', 'true']], (o) => rangesOfElement(o, 'effective').length === 0);
add('Observation', [['code', '29463-7,8302-2'], ['date', 'ge2022']], (o) => (hasCoding(obsCodes(o), undefined, '29463-7') || hasCoding(obsCodes(o), undefined, '8302-2'))
  && rangesOfElement(o, 'effective').some((x) => dateMatches('ge', x, rangeOf('2022'))));
for (const v of VITALS) {
  for (const p of PREFIXES) {
    const n = String(Math.round(v.base + v.spread / 2));
    add('Observation', [['value-quantity', `${p}${n}|${UCUM}|${v.unit}`]], (o) => o.valueQuantity?.code === v.unit && o.valueQuantity.system === UCUM && numberMatches(p, o.valueQuantity.value, n));
  }
  add('Observation', [['value-quantity', `ge${v.base + v.spread / 4}||${v.unit}`]], (o) => o.valueQuantity?.code === v.unit && o.valueQuantity.value >= v.base + v.spread / 4);
}
for (const n of ['70', '70.5', '37.2', '98']) {
  add('Observation', [['value-quantity', n]], (o) => o.valueQuantity !== undefined && numberMatches('eq', o.valueQuantity.value, n));
}
const bp = (o: Json, code: string): number | undefined => (o.component ?? []).find((c: Json) => hasCoding(codings(c.code), LOINC, code))?.valueQuantity.value;
for (const [p, n] of [['gt', '130'], ['lt', '110'], ['ge', '140'], ['le', '70']] as Array<[Prefix, string]>) {
  add('Observation', [['component-code-value-quantity', `${LOINC}|8480-6$${p}${n}`]], (o) => bp(o, '8480-6') !== undefined && numberMatches(p, bp(o, '8480-6')!, n));
  add('Observation', [['combo-code-value-quantity', `8462-4$${p}${n}|${UCUM}|mm[Hg]`]], (o) => bp(o, '8462-4') !== undefined && numberMatches(p, bp(o, '8462-4')!, n));
  add('Observation', [['component-value-quantity', `${p}${n}`]], (o) => (o.component ?? []).some((c: Json) => numberMatches(p, c.valueQuantity.value, n)));
}
add('Observation', [['code-value-quantity', `${LOINC}|29463-7$gt80`]], (o) => hasCoding(obsCodes(o), LOINC, '29463-7') && o.valueQuantity.value > 80);
add('Observation', [['code-value-quantity', `${LOINC}|29463-7$gt80,${LOINC}|8302-2$lt160`]], (o) => (hasCoding(obsCodes(o), LOINC, '29463-7') && o.valueQuantity.value > 80)
  || (hasCoding(obsCodes(o), LOINC, '8302-2') && o.valueQuantity.value < 160));
add('Observation', [['_profile', VITALS_PROFILE]], (o) => (o.meta?.profile ?? []).includes(VITALS_PROFILE));
add('Observation', [['_profile:missing', 'true']], (o) => !o.meta?.profile);
add('Observation', [['_tag', `${TAG_SYSTEM}|device`]], (o) => hasCoding(o.meta?.tag ?? [], TAG_SYSTEM, 'device'));
add('Observation', [['_tag', `${TAG_SYSTEM}|`], ['code:not', '85354-9']], (o) => hasCoding(o.meta?.tag ?? [], TAG_SYSTEM, undefined) && !hasCoding(obsCodes(o), undefined, '85354-9'));

// ---- DocumentReference
const docPatient = (d: Json): string => d.subject.reference;
for (const type of DOC_TYPES) {
  add('DocumentReference', [['type', `${LOINC}|${type}`]], (d) => hasCoding(codings(d.type), LOINC, type));
  add('DocumentReference', [['type:not', type], ['status', 'current']], (d) => !hasCoding(codings(d.type), undefined, type) && d.status === 'current');
}
for (const c of DOC_CLASSES) add('DocumentReference', [['category', `${CLASSE}|${c}`]], (d) => hasCoding(codings(d.category), CLASSE, c));
for (const code of VISIBILITY_CODES) {
  add('DocumentReference', [['security-label', `${VISIBILITE}|${code}`]], (d) => hasCoding(codings(d.securityLabel), VISIBILITE, code));
  add('DocumentReference', [['security-label:not', `${VISIBILITE}|${code}`]], (d) => !hasCoding(codings(d.securityLabel), VISIBILITE, code));
}
add('DocumentReference', [['security-label:not', `${VISIBILITE}|MASQUE_PS,${VISIBILITE}|INVISIBLE_PATIENT`]], (d) => !hasCoding(codings(d.securityLabel), VISIBILITE, 'MASQUE_PS')
  && !hasCoding(codings(d.securityLabel), VISIBILITE, 'INVISIBLE_PATIENT'));
add('DocumentReference', [['security-label', `${CONFIDENTIALITY}|R`]], (d) => hasCoding(codings(d.securityLabel), CONFIDENTIALITY, 'R'));
add('DocumentReference', [['_security', `${CONFIDENTIALITY}|R`]], (d) => hasCoding(d.meta?.security ?? [], CONFIDENTIALITY, 'R'));
add('DocumentReference', [['status', 'current']], (d) => d.status === 'current');
add('DocumentReference', [['status:in', 'http://hl7.org/fhir/ValueSet/document-reference-status']], () => true);
add('DocumentReference', [['status:not-in', 'http://hl7.org/fhir/ValueSet/document-reference-status']], () => false);
for (const d0 of ['2021', '2022-05', '2023-03-15']) {
  for (const p of PREFIXES) add('DocumentReference', [['date', `${p}${d0}`]], (d) => dateMatches(p, rangeOf(d.date), rangeOf(d0)));
}
for (const pr of ['pr0', 'pr2']) {
  add('DocumentReference', [['author', `Practitioner/${pr}`]], (d) => refs(d.author).includes(`Practitioner/${pr}`));
}
add('DocumentReference', [['author:Patient', 'pat4']], (d) => refs(d.author).includes('Patient/pat4'));
for (const family of ['lef', 'Dupré', 'médecin', 'dur']) {
  add('DocumentReference', [['author.family', family]], (d) => refs(d.author).some((a) => families(resolve(a) ?? {}).some((f) => fold(f).startsWith(fold(family)))));
}
add('DocumentReference', [['author:Practitioner.family', 'lef']], (d) => refs(d.author).some((a) => a.startsWith('Practitioner/') && families(resolve(a) ?? {}).some((f) => fold(f).startsWith('lef'))));
for (const p of ['pat2', 'pat5', 'pat17']) {
  add('DocumentReference', [['patient', p]], (d) => docPatient(d) === `Patient/${p}`);
  add('DocumentReference', [['patient', p], ['security-label:not', `${VISIBILITE}|INVISIBLE_PATIENT`]], (d) => docPatient(d) === `Patient/${p}`
    && !hasCoding(codings(d.securityLabel), VISIBILITE, 'INVISIBLE_PATIENT'));
}
add('DocumentReference', [['patient.identifier', `${INS}|${of('Patient')[8]!.identifier[0].value}`]], (d) => docPatient(d) === 'Patient/pat8');

// ---- Appointment, Communication
for (const pr of ['pr1', 'pr3']) add('Appointment', [['actor', `Practitioner/${pr}`]], (a) => a.participant.some((x: Json) => refOf(x.actor) === `Practitioner/${pr}`));
add('Appointment', [['status', 'booked,proposed']], (a) => ['booked', 'proposed'].includes(a.status));
for (const d0 of ['2024-06', '2024-03-10', '2024']) {
  for (const p of PREFIXES) add('Appointment', [['date', `${p}${d0}`]], (a) => dateMatches(p, rangeOf(a.start), rangeOf(d0)));
}
for (const p of ['pat1', 'pat9', 'pat20']) {
  add('Appointment', [['patient', `Patient/${p}`]], (a) => a.participant.some((x: Json) => refOf(x.actor) === `Patient/${p}`));
  add('Communication', [['subject', `Patient/${p}`]], (m) => m.subject.reference === `Patient/${p}`);
  add('Communication', [['recipient:Patient', p]], (m) => refs(m.recipient).includes(`Patient/${p}`));
}
for (const pr of ['pr0', 'pr2']) add('Communication', [['sender', `Practitioner/${pr}`]], (m) => m.sender.reference === `Practitioner/${pr}`);
add('Communication', [['sender:Patient', 'pat3,pat4,pat5']], (m) => ['Patient/pat3', 'Patient/pat4', 'Patient/pat5'].includes(m.sender.reference));
for (const p of PREFIXES) add('Communication', [['sent', `${p}2024-06`]], (m) => dateMatches(p, rangeOf(m.sent), rangeOf('2024-06')));

const OPTIONS = { strict: true, defaultCount: 20, maxCount: 500 };

async function collect(engine: StoreEngine, type: string, query: Array<[string, string]>, count: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 200; page++) {
    const q: Array<[string, string]> = [...query, ['_count', String(count)]];
    if (cursor) q.push(['_cursor', cursor]);
    const result = await executeSearch(engine, parseSearchRequest([type], q, OPTIONS));
    ids.push(...result.matches.map((m) => m.id));
    if (!result.next) return ids;
    cursor = result.next;
  }
  throw new Error('paging did not end');
}

t.test('corpus queries return exactly what the reference matcher selects', async (t) => {
  const engine = await engineWith(t, corpus);
  t.ok(cases.length >= 300, `${cases.length} queries`);
  let nonEmpty = 0;
  for (const c of cases) {
    const label = `${c.type}?${c.query.map(([k, v]) => `${k}=${v}`).join('&')}`;
    const expected = of(c.type).filter(c.match).map((r) => r.id as string).sort();
    const got = await collect(engine, c.type, c.query, 13);
    if (expected.length) nonEmpty++;
    const wrong = got.filter((id) => !c.match(byRef.get(`${c.type}/${id}`)!.resource));
    if (wrong.length) t.fail(`${label}: returned entries that do not match: ${wrong.join(', ')}`);
    if (new Set(got).size !== got.length) t.fail(`${label}: an entry came twice across pages`);
    t.same([...got].sort(), expected, label, { diagnostic: false });
  }
  // Most queries must select something, or the comparison proves little.
  t.ok(nonEmpty > cases.length * 0.7, `${nonEmpty} of ${cases.length} queries select at least one resource`);
});

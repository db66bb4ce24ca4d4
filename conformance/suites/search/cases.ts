import type { Resource } from '@medplum/fhirtypes';
import type { Requirement } from '../../runner/types.js';
import { FIXTURE_ID_SYSTEM, LOINC } from '../fhir-helpers.js';
import type { SearchDataset } from './dataset.js';
import { SEARCH_REQ } from './requirements.js';

/** One search, as data: what to ask and which fixtures must come back (no more, no less). */
export interface SearchCase {
  id: string;
  title: string;
  requirement: Requirement;
  type: 'Patient' | 'Observation';
  /** Search parameters the server must declare for the case to run (name without modifier). */
  needs: string[];
  params: (d: SearchDataset) => [string, string][];
  expect: (d: SearchDataset) => Resource[];
  severity?: 'error' | 'warning';
}

const WEIGHT = `${LOINC}|29463-7`;
const UCUM = 'http://unitsofmeasure.org';

export const SEARCH_CASES: SearchCase[] = [
  // string
  { id: 'string.prefix', title: 'family= matches by prefix, ignoring case', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['family'],
    params: (d) => [['family', d.prefix.toLowerCase()]], expect: (d) => [d.alpha, d.beta] },
  { id: 'string.accents', title: 'given= ignores accents (elodie finds Élodie)', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['given', 'family'],
    params: (d) => [['family', d.prefix], ['given', 'elodie']], expect: (d) => [d.alpha] },
  { id: 'string.exact', title: 'family:exact= matches the whole value, case included', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['family'],
    params: (d) => [['family:exact', `${d.prefix}Alpha`]], expect: (d) => [d.alpha] },
  { id: 'string.exact-case', title: 'family:exact= with another case finds nothing', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['family'],
    params: (d) => [['family:exact', `${d.prefix}alpha`]], expect: () => [] },
  { id: 'string.contains', title: 'family:contains= matches inside the value', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['family'],
    params: (d) => [['family', d.prefix], ['family:contains', 'lph']], expect: (d) => [d.alpha] },
  { id: 'string.address-city', title: 'address-city= ignores accents and case', requirement: SEARCH_REQ.string, type: 'Patient', needs: ['address-city', 'family'],
    params: (d) => [['family', d.prefix], ['address-city', 'saint-etienne']], expect: (d) => [d.alpha] },
  // token
  { id: 'token.code', title: 'gender=female (code only)', requirement: SEARCH_REQ.token, type: 'Patient', needs: ['gender', 'family'],
    params: (d) => [['family', d.prefix], ['gender', 'female']], expect: (d) => [d.alpha] },
  { id: 'token.system-code', title: 'identifier=system|value', requirement: SEARCH_REQ.token, type: 'Patient', needs: ['identifier'],
    params: (d) => [['identifier', `${FIXTURE_ID_SYSTEM}|${d.alphaIns}`]], expect: (d) => [d.alpha] },
  { id: 'token.value-only', title: 'identifier=value without system', requirement: SEARCH_REQ.token, type: 'Patient', needs: ['identifier'],
    params: (d) => [['identifier', d.alphaIns]], expect: (d) => [d.alpha] },
  { id: 'token.or', title: 'gender=female,male (OR)', requirement: SEARCH_REQ.token, type: 'Patient', needs: ['gender', 'family'],
    params: (d) => [['family', d.prefix], ['gender', 'female,male']], expect: (d) => [d.alpha, d.beta] },
  { id: 'token.not', title: 'gender:not=female', requirement: SEARCH_REQ.token, type: 'Patient', needs: ['gender', 'family'],
    params: (d) => [['family', d.prefix], ['gender:not', 'female']], expect: (d) => [d.beta] },
  { id: 'token.codeable-concept', title: 'code=http://loinc.org|29463-7 on Observation', requirement: SEARCH_REQ.token, type: 'Observation', needs: ['code', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['code', WEIGHT]], expect: (d) => [d.weightJan, d.weightJun] },
  { id: 'token.text', title: 'code:text=heart', requirement: SEARCH_REQ.token, type: 'Observation', needs: ['code', 'subject'], severity: 'warning',
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['code:text', 'heart']], expect: (d) => [d.heartMar] },
  { id: 'token.category', title: 'category=vital-signs', requirement: SEARCH_REQ.token, type: 'Observation', needs: ['category', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['category', 'vital-signs']], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  // date
  { id: 'date.day', title: 'birthdate=1980-05-12 (eq at day precision)', requirement: SEARCH_REQ.date, type: 'Patient', needs: ['birthdate', 'family'],
    params: (d) => [['family', d.prefix], ['birthdate', '1980-05-12']], expect: (d) => [d.alpha] },
  { id: 'date.year', title: 'birthdate=1980 (a year covers the day)', requirement: SEARCH_REQ.date, type: 'Patient', needs: ['birthdate', 'family'],
    params: (d) => [['family', d.prefix], ['birthdate', '1980']], expect: (d) => [d.alpha] },
  { id: 'date.lt', title: 'birthdate=lt1990-01-01', requirement: SEARCH_REQ.date, type: 'Patient', needs: ['birthdate', 'family'],
    params: (d) => [['family', d.prefix], ['birthdate', 'lt1990-01-01']], expect: (d) => [d.alpha] },
  { id: 'date.ge', title: 'date=ge2024-03-01 on Observation', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', 'ge2024-03-01']], expect: (d) => [d.heartMar, d.weightJun] },
  { id: 'date.gt', title: 'date=gt2024-03-01 excludes that day', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', 'gt2024-03-01']], expect: (d) => [d.weightJun] },
  { id: 'date.le', title: 'date=le2024-03-01 includes that day', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', 'le2024-03-01']], expect: (d) => [d.weightJan, d.heartMar] },
  { id: 'date.month', title: 'date=2024-01 (month precision)', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', '2024-01']], expect: (d) => [d.weightJan] },
  { id: 'date.range', title: 'date=ge2024-02-01&date=lt2024-06-01 (AND)', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', 'ge2024-02-01'], ['date', 'lt2024-06-01']], expect: (d) => [d.heartMar] },
  { id: 'date.ne', title: 'date=ne2024-03-01', requirement: SEARCH_REQ.date, type: 'Observation', needs: ['date', 'subject'], severity: 'warning',
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['date', 'ne2024-03-01']], expect: (d) => [d.weightJan, d.weightJun] },
  // quantity
  { id: 'quantity.gt', title: 'value-quantity=gt73', requirement: SEARCH_REQ.quantity, type: 'Observation', needs: ['value-quantity', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['value-quantity', 'gt73']], expect: (d) => [d.weightJun] },
  { id: 'quantity.unit', title: 'value-quantity=72|http://unitsofmeasure.org|kg', requirement: SEARCH_REQ.quantity, type: 'Observation', needs: ['value-quantity', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['value-quantity', `72|${UCUM}|kg`]], expect: (d) => [d.weightJan] },
  { id: 'quantity.le-unit', title: 'value-quantity=le72|http://unitsofmeasure.org|kg (unit excludes /min)', requirement: SEARCH_REQ.quantity, type: 'Observation', needs: ['value-quantity', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['value-quantity', `le72|${UCUM}|kg`]], expect: (d) => [d.weightJan] },
  // reference
  { id: 'reference.typed', title: 'subject=Patient/[id]', requirement: SEARCH_REQ.reference, type: 'Observation', needs: ['subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`]], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  { id: 'reference.patient-bare-id', title: 'patient=[id] equals patient=Patient/[id]', requirement: SEARCH_REQ.reference, type: 'Observation', needs: ['patient'],
    params: (d) => [['patient', d.alpha.id ?? '']], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  { id: 'reference.patient-typed', title: 'patient=Patient/[id]', requirement: SEARCH_REQ.reference, type: 'Observation', needs: ['patient'],
    params: (d) => [['patient', `Patient/${d.alpha.id}`]], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  { id: 'reference.type-modifier', title: 'subject:Patient=[id]', requirement: SEARCH_REQ.reference, type: 'Observation', needs: ['subject'],
    params: (d) => [['subject:Patient', d.beta.id ?? '']], expect: (d) => [d.betaWeight] },
  // missing
  { id: 'missing.false', title: 'value-quantity:missing=false', requirement: SEARCH_REQ.missing, type: 'Observation', needs: ['value-quantity', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['value-quantity:missing', 'false']], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  { id: 'missing.true', title: 'encounter:missing=true', requirement: SEARCH_REQ.missing, type: 'Observation', needs: ['encounter', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['encounter:missing', 'true']], expect: (d) => [d.weightJan, d.heartMar, d.weightJun] },
  { id: 'missing.none', title: 'value-quantity:missing=true finds none of the measures', requirement: SEARCH_REQ.missing, type: 'Observation', needs: ['value-quantity', 'subject'],
    params: (d) => [['subject', `Patient/${d.alpha.id}`], ['value-quantity:missing', 'true']], expect: () => [] },
  // common
  { id: 'common.id', title: '_id=[id]', requirement: SEARCH_REQ.common, type: 'Patient', needs: ['_id'],
    params: (d) => [['_id', d.alpha.id ?? '']], expect: (d) => [d.alpha] },
  { id: 'common.last-updated', title: '_lastUpdated=ge(yesterday)', requirement: SEARCH_REQ.common, type: 'Patient', needs: ['_lastUpdated', 'family'],
    params: (d) => [['family', d.prefix], ['_lastUpdated', `ge${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}`]], expect: (d) => [d.alpha, d.beta] },
  // The fixtures were all written during the run: a server ignoring _lastUpdated would pass the case above.
  { id: 'common.last-updated-none', title: '_lastUpdated=lt(yesterday) finds none of what the run wrote', requirement: SEARCH_REQ.common, type: 'Patient', needs: ['_lastUpdated', 'family'],
    params: (d) => [['family', d.prefix], ['_lastUpdated', `lt${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}`]], expect: () => [] },
];

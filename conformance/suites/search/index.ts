import { defineSuite } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import { searchChecks } from './checks.js';
import { createSearchState } from './dataset.js';

export const searchSuite = defineSuite({
  id: 'search',
  title: 'Search',
  spec: 'HL7 FHIR R4 (4.0.1) Search, https://hl7.org/fhir/R4/search.html',
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createSearchState,
  checks: searchChecks,
});

import { defineSuite } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import { conditionalChecks } from './checks-conditional.js';
import { createRestState, crudChecks } from './checks-crud.js';
import { exchangeChecks } from './checks-exchange.js';

export const restSuite = defineSuite({
  id: 'rest',
  title: 'RESTful API',
  spec: 'HL7 FHIR R4 (4.0.1) RESTful API, https://hl7.org/fhir/R4/http.html',
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createRestState,
  checks: [...crudChecks, ...conditionalChecks, ...exchangeChecks],
});

import { defineSuite } from '../../runner/suite.js';
import type { Check } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import { discoveryChecks } from './checks-discovery.js';
import { createSmartState, tokenChecks } from './checks-tokens.js';
import type { SmartState } from './checks-tokens.js';

export const smartSuite = defineSuite<SmartState>({
  id: 'smart',
  title: 'SMART authorization',
  spec: 'HL7 SMART App Launch 2.2 (incl. Backend Services), https://hl7.org/fhir/smart-app-launch/',
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createSmartState,
  checks: [...(discoveryChecks as Check<SmartState>[]), ...tokenChecks],
});

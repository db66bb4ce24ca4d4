import { defineSuite } from '../../runner/suite.js';
import { systemScope } from '../../runner/target.js';
import { createMhdState, mhdChecks } from './checks.js';

export const mhdSuite = defineSuite({
  id: 'mhd',
  title: 'IHE MHD documents',
  spec: 'IHE ITI Mobile access to Health Documents 4.2 (ITI-65, ITI-66, ITI-67, ITI-68), https://profiles.ihe.net/ITI/MHD/',
  scope: (target) => systemScope(target, '*', 'cruds'),
  createState: createMhdState,
  checks: mhdChecks,
});

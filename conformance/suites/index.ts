import type { Suite } from '../runner/suite.js';
import type { SuiteId } from '../runner/types.js';
import { mhdSuite } from './mhd/index.js';
import { restSuite } from './rest/index.js';
import { searchSuite } from './search/index.js';
import { smartSuite } from './smart/index.js';
import { spaceSuite } from './space/index.js';

export const SUITES: Record<SuiteId, Suite> = {
  rest: restSuite,
  search: searchSuite,
  smart: smartSuite,
  mhd: mhdSuite,
  space: spaceSuite,
};

export function selectSuites(ids: readonly SuiteId[]): Suite[] {
  return ids.map((id) => {
    const suite = SUITES[id];
    if (!suite) throw new Error(`unknown suite ${id}`);
    return suite;
  });
}

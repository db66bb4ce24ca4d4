import type { Suite } from '../runner/suite.js';
import type { SuiteId } from '../runner/types.js';
import { restSuite } from './rest/index.js';

const ALL: Partial<Record<SuiteId, Suite>> = {
  rest: restSuite,
};

export function selectSuites(ids: readonly SuiteId[]): Suite[] {
  return ids.map((id) => {
    const suite = ALL[id];
    if (!suite) throw new Error(`suite ${id} is not available in this version of the kit`);
    return suite;
  });
}

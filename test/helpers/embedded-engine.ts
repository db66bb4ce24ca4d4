import type { Test } from 'tap';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import type { EngineLog } from '../../src/store/embedded/journal.js';
import type { StoreEngine } from '../../src/store/engine.js';
import { recordingLog } from './recording-log.js';

/** The embedded engine on `dataDir`, opened, and closed at the test's teardown. */
export async function openEmbeddedEngine(t: Test, dataDir: string, log: EngineLog = recordingLog().log): Promise<StoreEngine> {
  const engine = createEmbeddedEngine({ dataDir, log });
  await engine.open();
  t.teardown(() => engine.close());
  return engine;
}

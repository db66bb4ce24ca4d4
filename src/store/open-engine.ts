import type { EngineLog } from './embedded/journal.js';
import { createEmbeddedEngine } from './embedded/embedded-engine.js';
import type { StoreEngine } from './engine.js';
import { createMongoEngine } from './mongodb/mongo-engine.js';

export type { EngineLog };

/** MongoDB when a URL is configured, else the embedded engine in `dataDir`; opened and ready. */
export async function openEngine(
  config: { dataDir: string; mongodbUrl?: string; mongodbDb: string },
  log?: EngineLog,
): Promise<StoreEngine> {
  const engine = config.mongodbUrl
    ? createMongoEngine({ url: config.mongodbUrl, dbName: config.mongodbDb })
    : createEmbeddedEngine({ dataDir: config.dataDir, log });
  await engine.open();
  return engine;
}

import type { EngineLog } from './embedded/journal.js';
import { createEmbeddedEngine } from './embedded/embedded-engine.js';
import type { StoreEngine } from './engine.js';

export type { EngineLog };

/** MongoDB when a URL is configured, else the embedded engine in `dataDir`; opened and ready. */
export async function openEngine(
  config: { dataDir: string; mongodbUrl?: string; mongodbDb: string },
  log?: EngineLog,
): Promise<StoreEngine> {
  // The MongoDB driver is imported only when used: the embedded start-up need not load it.
  const engine = config.mongodbUrl
    ? (await import('./mongodb/mongo-engine.js')).createMongoEngine({ url: config.mongodbUrl, dbName: config.mongodbDb })
    : createEmbeddedEngine({ dataDir: config.dataDir, log });
  await engine.open();
  return engine;
}

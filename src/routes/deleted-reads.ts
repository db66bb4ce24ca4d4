import type { FastifyRequest } from 'fastify';
import { ResourceGoneError } from '../errors.js';
import type { VersionRecord } from '../store/engine.js';

/**
 * A read or vread that meets a deletion tells of it (410, with the deletion's
 * ETag and Last-Modified) only to whoever could read what was deleted: that
 * the resource existed, when it went and how many versions it had are its
 * own facts. `judge` is asked on the last version before the deletion and
 * throws (403, as for any resource the caller may not read) to refuse.
 */
export async function readTellingDeletion(request: FastifyRequest, read: () => Promise<VersionRecord>, judge: (lastLive: VersionRecord) => Promise<unknown>): Promise<VersionRecord> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ResourceGoneError) {
      const vid = Number(err.versionId);
      const lastLive = vid > 1 ? await request.server.engine.version(err.resourceType, err.resourceId, vid - 1) : undefined;
      if (lastLive && !lastLive.deleted) await judge(lastLive);
    }
    throw err;
  }
}

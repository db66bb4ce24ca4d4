import type { FastifyRequest } from 'fastify';
import { VersionConflictError } from '../errors.js';
import { httpDateMs, namesVersion, requireEntityTags } from '../fhir/entity-tags.js';
import type { VersionRecord } from '../store/engine.js';
import { headerList } from './header-list.js';

/**
 * `If-None-Match` and `If-Unmodified-Since` on a write by id (PUT, PATCH,
 * DELETE). FHIR names only If-Match for writes, but a server MUST evaluate
 * the preconditions it is sent (RFC 9110 §13.2.1): `If-None-Match: *` makes
 * a PUT create-only (412 when the resource exists), a list of ETags refuses
 * the write when one is the current version, and `If-Unmodified-Since`
 * refuses it when the resource changed after that date (read only without
 * If-Match, §13.1.4; a date that is no HTTP-date is ignored). A deleted
 * resource, or one never written, has no current version.
 */
export function checkWritePreconditions(request: FastifyRequest, current: VersionRecord | undefined): void {
  const live = current && !current.deleted ? current : undefined;
  const ifNoneMatch = headerList(request.headers['if-none-match']);
  if (ifNoneMatch !== undefined) {
    const tags = requireEntityTags(ifNoneMatch, 'If-None-Match');
    const shown = ifNoneMatch.trim().slice(0, 80);
    if (live && namesVersion(tags, live.vid)) {
      throw new VersionConflictError(`If-None-Match ${shown}: ${live.type}/${live.id} exists at version ${live.vid}`, 412);
    }
  }
  const ifUnmodifiedSince = headerList(request.headers['if-unmodified-since']);
  if (ifUnmodifiedSince !== undefined && request.headers['if-match'] === undefined && live) {
    const since = httpDateMs(ifUnmodifiedSince);
    // HTTP dates count whole seconds, as Last-Modified does.
    if (since !== undefined && Math.floor(live.ts / 1000) * 1000 > since) {
      throw new VersionConflictError(`If-Unmodified-Since ${ifUnmodifiedSince.trim().slice(0, 40)}: ${live.type}/${live.id} was changed after it (${new Date(live.ts).toUTCString()})`, 412);
    }
  }
}

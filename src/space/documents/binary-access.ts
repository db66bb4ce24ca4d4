import type { FastifyRequest } from 'fastify';
import type { Binary } from '@medplum/fhirtypes';
import { FhirError, ForbiddenError } from '../../errors.js';
import { authorize, principalOf } from '../../access/guard.js';
import { parseLocalReference } from '../../fhir/references.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';

/*
 * Who may read (or replace) a document's bytes: the one decision behind
 * ITI-68 (routes/binary.ts) and behind the content rules, which ask it before
 * telling a document's writer anything of the Binary it names
 * (document-content.ts).
 */

/** The interactions a Binary version is judged for. */
export type BinaryInteraction = 'read' | 'vread' | 'update';

export interface BinaryAccessOptions {
  /**
   * Versions about to be committed with the question (a transaction's): the
   * securityContext is taken from there when the commit writes it (a
   * document written with the bytes posted for it).
   */
  written?: readonly VersionRecord[];
  /** Whether an allowed access is audited (the route's own access); a refusal always is. */
  audit?: boolean;
}

/**
 * Binary is in no patient compartment, so on its own only system clients
 * may read it. Its securityContext (R4: the proxy for its sensitivity, set
 * by ITI-65 to the DocumentReference) places it: a person reads (or
 * replaces) the bytes when they may read (or update) a Binary of that space
 * and may read the proxy itself, so a document masked from them hides its
 * bytes too (ITI-68). Once the proxy is deleted, its bytes are gone with it:
 * a read answers 410 as a read of the document does (not a 403 that would
 * look like a privacy decision), and a vread is judged as a vread of the
 * document's last version before its deletion would be. Throws 403 (or that
 * 410) when refused.
 */
export async function authorizeBinary(request: FastifyRequest, action: 'r' | 'u', interaction: BinaryInteraction, record: VersionRecord,
  { written, audit = true }: BinaryAccessOptions = {}): Promise<void> {
  const { engine, config } = request.server;
  const context = record.comp.length || principalOf(request).kind === 'system' ? undefined : securityContextOf(record, config.fhirBase);
  const together = context && written?.find((w) => w.type === context.type && w.id === context.id);
  let proxy = together ?? (context ? await engine.current(context.type, context.id) : undefined);
  if (proxy?.deleted && interaction === 'read') {
    // What a read of the deleted document answers: the policy on its last version, then 410.
    const lastLive = await lastLiveVersion(engine, proxy);
    await authorize(request, 'r', 'read', { resourceType: proxy.type, id: proxy.id, ...(lastLive ? { record: lastLive } : {}) }, { precheck: true });
    throw new FhirError('FHIR_ERR_STORE_GONE', 410, 'deleted', `Binary/${record.id} belongs to ${proxy.type}/${proxy.id}, which was deleted`);
  }
  if (proxy?.deleted && interaction === 'vread') proxy = await lastLiveVersion(engine, proxy);
  if (!proxy || proxy.deleted || !proxy.comp.length) {
    await authorize(request, action, interaction, { resourceType: 'Binary', id: record.id, record }, { precheck: !audit });
    return;
  }
  // The proxy first, audited only when refused: a document hidden from the caller refuses its bytes
  // without the trail also recording an allowed access to them. The access itself is audited next.
  await authorize(request, 'r', 'read', { resourceType: proxy.type, id: proxy.id, record: proxy }, { precheck: true });
  await authorize(request, action, interaction, { resourceType: 'Binary', id: record.id, record: { ...record, comp: proxy.comp } }, { precheck: !audit });
}

/**
 * authorizeBinary as a yes or no, for a caller that must not say why: a
 * refusal, or the 410 of bytes whose document is deleted, is a no. An
 * allowed access is not audited (the caller's own write is); a refusal is,
 * as any refusal is.
 */
export async function mayReadBinary(request: FastifyRequest, interaction: 'read' | 'vread', record: VersionRecord, written?: readonly VersionRecord[]): Promise<boolean> {
  try {
    await authorizeBinary(request, 'r', interaction, record, { written, audit: false });
    return true;
  } catch (err) {
    if (err instanceof ForbiddenError || (err instanceof FhirError && err.code === 'FHIR_ERR_STORE_GONE')) return false;
    throw err;
  }
}

/**
 * `Type/id` of the resource a Binary version's securityContext names on this
 * server (relative, or under this server's base); undefined when it names
 * none (no securityContext, another server's, an identifier only).
 */
export function securityContextOf(record: VersionRecord, fhirBase: string): { type: string; id: string } | undefined {
  const reference = (JSON.parse(record.json) as Binary).securityContext?.reference;
  if (typeof reference !== 'string') return undefined;
  return parseLocalReference(reference, fhirBase);
}

/** The version a tombstone deleted (undefined when there is none). */
async function lastLiveVersion(engine: StoreEngine, tombstone: VersionRecord): Promise<VersionRecord | undefined> {
  const before = tombstone.vid > 1 ? await engine.version(tombstone.type, tombstone.id, tombstone.vid - 1) : undefined;
  return before && !before.deleted ? before : undefined;
}

import type { Communication } from '@medplum/fhirtypes';
import { notification } from '../../audit/audit-event.js';
import type { Repository } from '../../store/repository.js';
import type { VersionRecord } from '../../store/engine.js';
import { VISIBILITY_SYSTEM, visibilityLabels } from '../../access/labels.js';
import { VersionConflictError } from '../../errors.js';

/** Relabellings of a document's notices that keep meeting another's (each reads afresh). */
const RELABEL_ATTEMPTS = 5;

/** Category code of the notification written when a document is added to a space. */
export const DOCUMENT_ADDED = 'document-added';

/**
 * The holder is told when a document is added (DOMAIN.md, design): for each
 * new DocumentReference, a Communication from the system to each patient whose
 * space holds it, `about` the document, written in its own commit right after
 * the document's (before the writer gets its answer).
 */
export function documentAddedNotices(repository: Repository, now: () => number = Date.now): (records: VersionRecord[]) => Promise<void> | undefined {
  const notify = async (added: VersionRecord[]): Promise<void> => {
    const sent = new Date(now()).toISOString();
    const notices: Communication[] = [];
    for (const record of added) {
      // The notice is as visible as its document: one hidden from the holder for a month (or from
      // legal representatives, or masked from professionals) carries the same labels, so the policy
      // hides the notice from the same people for the same time.
      const labels = visibilityLabels(record);
      const security = labels.length ? { meta: { security: labels.map((code) => ({ system: VISIBILITY_SYSTEM, code })) } } : {};
      for (const patient of record.comp) {
        notices.push({
          ...notification(patient, [patient], DOCUMENT_ADDED, 'Un nouveau document a été ajouté à votre espace / A new document was added to your space', sent),
          about: [{ reference: `DocumentReference/${record.id}` }],
          ...security,
        });
      }
    }
    const prepared = await Promise.all(notices.map((c) => repository.prepareCreate(c)));
    await repository.commit(prepared);
  };
  // A document's labels change later too (the patient masks it, a professional hides it from her):
  // its notices follow, so that they never tell of a document their reader may no longer see.
  // The labels are the document's current ones, not the committed version's: replicas sharing a
  // store run their listeners in no common order, and a late listener of an older change must not
  // undo a newer one. Two relabellings of one notice meet at its If-Match; the loser starts again.
  const relabel = async (changed: VersionRecord[]): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await relabelOnce(changed);
      } catch (err) {
        if (!(err instanceof VersionConflictError) || attempt >= RELABEL_ATTEMPTS) throw err;
      }
    }
  };
  const relabelOnce = async (changed: VersionRecord[]): Promise<void> => {
    const prepared = [];
    for (const committed of changed) {
      const record = await repository.engine.current('DocumentReference', committed.id);
      if (!record || record.deleted || !record.comp.length) continue;
      const wanted = [...new Set(visibilityLabels(record))].sort();
      for (const patient of record.comp) {
        const notices = await repository.engine.find({
          types: ['Communication'], filter: { comp: patient, 'idx.category.c': DOCUMENT_ADDED }, sort: [['id', 1]], limit: 100_000,
        });
        for (const notice of notices) {
          const resource = JSON.parse(notice.json) as Communication;
          if (resource.about?.[0]?.reference !== `DocumentReference/${record.id}`) continue;
          if ([...new Set(visibilityLabels(notice))].sort().join() === wanted.join()) continue;
          const others = (resource.meta?.security ?? []).filter((c) => c.system !== VISIBILITY_SYSTEM);
          const security = [...others, ...wanted.map((code) => ({ system: VISIBILITY_SYSTEM, code }))];
          const { meta, ...rest } = resource;
          const { security: _old, versionId: _v, lastUpdated: _u, ...ownMeta } = meta ?? {};
          const next: Communication = { ...rest, ...(security.length || Object.keys(ownMeta).length ? { meta: { ...ownMeta, ...(security.length ? { security } : {}) } } : {}) };
          prepared.push(await repository.prepareUpdate('Communication', notice.id, next, { ifMatch: `W/"${notice.vid}"` }));
        }
      }
    }
    if (prepared.length) await repository.commit(prepared);
  };
  return (records) => {
    const added = records.filter((r) => r.type === 'DocumentReference' && r.vid === 1 && !r.deleted && r.comp.length);
    const changed = records.filter((r) => r.type === 'DocumentReference' && r.vid > 1 && !r.deleted && r.comp.length);
    if (!added.length && !changed.length) return undefined;
    return Promise.all([added.length ? notify(added) : undefined, changed.length ? relabel(changed) : undefined]).then(() => undefined);
  };
}

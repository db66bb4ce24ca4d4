import type { Config } from '../config.js';
import type { StoreEngine } from '../store/engine.js';
import type { Repository } from '../store/repository.js';
import type { AuditedRequest, AuditTrail } from '../audit/audit-trail.js';
import type { WriteWorkers } from '../store/write-workers/write-workers.js';

// Decorations set once by buildServer before any plugin that reads them.
declare module 'fastify' {
  interface FastifyInstance {
    config: Readonly<Config>;
    engine: StoreEngine;
    repository: Repository;
    audit: AuditTrail;
    /** The threads that validate and index new resources; undefined when the main thread does (WRITE_WORKERS=0). */
    writeWorkers: WriteWorkers | undefined;
    /** The server's clock (injected in tests, so time-based rules are tested without sleeping). */
    now: () => number;
  }
  interface FastifyRequest {
    /** The request's decisions in the audit trail's current batch (audit-trail.ts AuditedRequest); null until its first. */
    auditRows: AuditedRequest['auditRows'];
  }
}

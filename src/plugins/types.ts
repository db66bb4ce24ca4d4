import type { Config } from '../config.js';
import type { StoreEngine } from '../store/engine.js';
import type { Repository } from '../store/repository.js';
import type { AuditTrail } from '../audit/audit-trail.js';
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
    /** The request's number in the audit trail (audit-trail.ts AuditedRequest); 0 until its first audited decision. */
    auditNumber: number;
  }
}

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const GIVEN = /^[\w\-.]{1,64}$/;

/**
 * Fastify `genReqId`: the caller's `X-Request-ID` when it is a plain token,
 * else a random UUID. Random rather than a counter: generated ids reach
 * patients (AuditEvent.source.site), and a counter would tell them how many
 * requests the server handled between two of their accesses.
 */
export function requestIdGenerator(): (req: IncomingMessage) => string {
  return (req) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && GIVEN.test(given) ? given : randomUUID();
  };
}

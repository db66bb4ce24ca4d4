import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const GIVEN = /^[\w\-.]{1,64}$/;

/**
 * Fastify `genReqId`: the caller's `X-Request-ID` when it is a plain token,
 * else a new id. New ids are a random prefix drawn once per process and a
 * counter: unique across replicas and restarts like a UUID, without drawing
 * random bytes on every request.
 */
export function requestIdGenerator(): (req: IncomingMessage) => string {
  const prefix = randomBytes(9).toString('base64url');
  let counter = 0;
  return (req) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && GIVEN.test(given) ? given : `${prefix}-${(++counter).toString(36)}`;
  };
}

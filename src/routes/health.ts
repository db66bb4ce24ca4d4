import type { FastifyPluginAsync } from 'fastify';

/** `GET /health`: 200 when the store answers, 503 otherwise (load balancers and the Docker healthcheck). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async (_request, reply) => {
    const ready = await app.engine.isReady().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', store: app.engine.kind });
  });
};

import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { CommitFeed } from './commit-feed.js';
import { SubscriptionService } from './subscription-service.js';
import { WebsocketHub } from './websocket-hub.js';
import { documentAddedNotices } from '../notifications/document-notices.js';

declare module 'fastify' {
  interface FastifyInstance {
    subscriptions: SubscriptionService;
  }
}

/**
 * What the space does after each commit: tells the holder of a new document
 * (a notification Communication) and runs the R4 Subscriptions. Needs the
 * commit feed the server's engine was wrapped with (commit-feed.ts).
 */
export const spaceEvents = fp(async (app: FastifyInstance, options: { feed: CommitFeed; now?: () => number }) => {
  const { config, repository, engine } = app;
  const subscriptions = new SubscriptionService(engine, repository, new WebsocketHub(), app.log,
    { maxAttempts: config.subscriptionMaxAttempts ?? 5, retryBaseMs: config.subscriptionRetryMs ?? 1000, timeoutMs: 10_000, fhirBase: config.fhirBase,
      // As authenticate does on every request: a withdrawn catalogue app reads nothing, by Subscription either.
      isUsable: (clientId, grantedAt) => app.carnetAuth.clients.honours(clientId, grantedAt),
      allowPrivateEndpoints: config.subscriptionAllowPrivateEndpoints }, options.now);
  app.decorate('subscriptions', subscriptions);
  const notices = documentAddedNotices(repository, options.now);
  const stops = [
    options.feed.subscribe(notices),
    options.feed.subscribe((records) => subscriptions.onCommit(records)),
  ];
  app.addHook('onClose', async () => {
    for (const stop of stops) stop();
    await subscriptions.close();
  });
}, { name: 'space-events', fastify: '5.x' });

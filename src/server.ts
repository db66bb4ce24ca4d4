import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import type { StoreEngine } from './store/engine.js';
import { openEngine } from './store/open-engine.js';
import { Repository } from './store/repository.js';
import { analyseVersion, validateWith } from './store/version-analysis.js';
import { WriteWorkers } from './store/write-workers/write-workers.js';
import { AuditTrail } from './audit/audit-trail.js';
import { mayReadAuditEvents, settleBeforeAuditReads } from './audit/audit-reads.js';
import { createValidator } from './fhir/validation/validate.js';
import { clientErrorHandler, fhirErrors, frameworkErrorsFor } from './plugins/fhir-errors.js';
import { fhirContent } from './plugins/fhir-content.js';
import { gracefulClose, shuttingDownError } from './plugins/graceful-close.js';
import { corsPlugin } from './plugins/cors.js';
import { queryEncodingError } from './plugins/query-encoding.js';
import { contentEncodingError } from './plugins/content-encoding.js';
import { operationPath } from './plugins/operation-path.js';
import { authPlugin, authenticate, authenticateKnown } from './plugins/auth.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { launchRoutes } from './routes/auth-launch.js';
import { metadataRoutes } from './routes/metadata.js';
import { wellKnownRoutes } from './routes/well-known.js';
import { binaryRoutes } from './routes/binary.js';
import { resourceRoutes } from './routes/resource.js';
import { searchRoutes } from './routes/search.js';
import { historyRoutes } from './routes/history.js';
import { validateOperationRoutes } from './routes/operations/validate.js';
import { unsupportedOperationRoutes } from './routes/operations/unsupported.js';
import { oauthMethodNotAllowedRoutes, protectedMethodNotAllowedRoutes, publicMethodNotAllowedRoutes, rootMethodNotAllowedRoutes } from './routes/method-not-allowed.js';
import { bundleRoutes } from './routes/bundle.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { observeCommits } from './space/subscriptions/commit-feed.js';
import { spaceEvents } from './space/subscriptions/space-events.js';
import { lazyRequestLogger, RequestLogController } from './plugins/request-logger.js';
import { requestIdGenerator } from './request-id.js';
import './plugins/types.js';

export interface BuildOptions {
  config: Readonly<Config>;
  /** An engine the caller owns (tests share one); otherwise one is opened from config and closed with the server. */
  engine?: StoreEngine;
  /** Fastify/pino logger options; false to silence. */
  logger?: FastifyServerOptions['logger'];
  /** Injected clock for tests. */
  now?: () => number;
}

/**
 * Builds the whole server without listening (STYLE: main listens, tests inject).
 * Scopes: root (errors, content parsing, health, the OAuth endpoints), public
 * FHIR (/fhir/metadata, /fhir/.well-known), protected FHIR (every other /fhir
 * route, behind the bearer-token hook).
 */
export async function buildServer(options: BuildOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    genReqId: requestIdGenerator(),
    childLoggerFactory: lazyRequestLogger,
    logController: new RequestLogController(),
    // Requests arriving while the server closes are refused by the root hook below, as an OperationOutcome.
    return503OnClosing: false,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    frameworkErrors: frameworkErrorsFor(config.corsOrigins),
    clientErrorHandler,
    rewriteUrl: (request) => operationPath(request.url ?? '/'),
  });
  const opened = options.engine ?? (await openEngine(config, { warn: (m) => app.log.warn(m), info: (m) => app.log.info(m) }));
  // Every commit is announced to the space's notifications and Subscriptions (space/subscriptions).
  const { engine, feed } = observeCommits(opened, (err) => app.log.error({ err }, 'commit listener failed'));
  const validator = createValidator({ requiredProfiles: config.requiredProfiles });
  const validate = validateWith(validator);
  const writeWorkers = config.writeWorkers > 0
    ? new WriteWorkers({
      size: config.writeWorkers,
      requiredProfiles: config.requiredProfiles,
      fhirBase: config.fhirBase,
      analyseHere: (json, mode) => analyseVersion(JSON.parse(json), mode, validate, config.fhirBase),
      log: app.log,
    })
    : undefined;
  const repository = new Repository({
    engine,
    now: options.now,
    validate,
    offload: writeWorkers,
    search: { defaultCount: config.searchDefaultCount, maxCount: config.searchMaxCount },
    fhirBase: config.fhirBase,
    binaryMaxBytes: config.binaryMaxBytes,
    log: app.log,
  });
  const audit = new AuditTrail(repository, app.log, { now: options.now, maxBacklog: config.auditMaxBacklog });
  app.decorate('config', config);
  app.decorate('engine', engine);
  app.decorate('repository', repository);
  app.decorate('audit', audit);
  app.decorateRequest('auditRows', null);
  app.decorate('now', options.now ?? Date.now);
  app.decorate('writeWorkers', writeWorkers);
  // Workers start with the server, in parallel with the rest of its start-up, which does not wait
  // for them (about 150 ms): until one is ready, writes are analysed here, as without workers.
  app.addHook('onClose', async () => {
    await writeWorkers?.close();
    await audit.close();
    if (!options.engine) await engine.close();
  });
  await app.register(gracefulClose, { graceMs: config.shutdownGraceSeconds * 1000 });
  await app.register(fhirErrors);
  await app.register(corsPlugin, { origins: config.corsOrigins });
  // One hook for every request (each hook kind costs a runner per request), after CORS's so that every
  // refusal it makes can be read by a page: the answer carries the
  // request id, a request arriving while the server closes is a 503 (plugins/graceful-close.ts),
  // background audit materialisation waits for a quiet moment (audit/audit-trail.ts), a query
  // whose percent-encoding is broken is a 400 (plugins/query-encoding.ts), and an encoded body a 415
  // (plugins/content-encoding.ts).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (app.draining) return done(shuttingDownError());
    audit.touch();
    done(queryEncodingError(request.url) ?? contentEncodingError(request.headers));
  });

  await app.register(fhirContent);
  await app.register(healthRoutes);
  await app.register(rootMethodNotAllowedRoutes);
  await app.register(authPlugin);
  await app.register(authRoutes);
  await app.register(oauthMethodNotAllowedRoutes);
  await app.register(catalogueRoutes);
  await app.register(launchRoutes);
  await app.register(spaceEvents, { feed, now: options.now });

  await app.register(async (fhir) => {
    await fhir.register(metadataRoutes);
    await fhir.register(wellKnownRoutes);
    await fhir.register(publicMethodNotAllowedRoutes);
    await fhir.register(async (protectedScope) => {
      // Whoever may read AuditEvents sees every access recorded before the request (a POST
      // _search form is looked at again once parsed: routes/search.ts). A callback hook, so that
      // the usual request (a token seen before, nothing about AuditEvents) makes no promise: the
      // promises of the async checks cost about 3 µs per read.
      protectedScope.addHook('onRequest', (request, _reply, done) => {
        const known = authenticateKnown(request);
        if (known && !mayReadAuditEvents(request)) return done();
        (known ? settleBeforeAuditReads(request) : authenticate(request).then(() => settleBeforeAuditReads(request))).then(() => done(), done);
      });
      await protectedScope.register(binaryRoutes);
      await protectedScope.register(subscriptionRoutes);
      await protectedScope.register(resourceRoutes);
      await protectedScope.register(searchRoutes);
      await protectedScope.register(historyRoutes);
      await protectedScope.register(validateOperationRoutes, { validator });
      await protectedScope.register(bundleRoutes);
      await protectedScope.register(unsupportedOperationRoutes);
      await protectedScope.register(protectedMethodNotAllowedRoutes);
    });
  }, { prefix: '/fhir' });

  await audit.start();
  return app;
}

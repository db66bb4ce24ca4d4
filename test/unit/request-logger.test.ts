import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import Fastify from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import { lazyRequestLogger, RequestLogController } from '../../src/plugins/request-logger.js';

function parentLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const parent = pino({ level }, stream);
  let children = 0;
  const child = parent.child.bind(parent);
  (parent as unknown as { child: typeof child }).child = ((...args: Parameters<typeof child>) => {
    children++;
    return child(...args);
  }) as typeof child;
  return { parent: parent as unknown as FastifyBaseLogger, lines, children: () => children };
}

const make = (parent: FastifyBaseLogger, options = {}) => lazyRequestLogger.call({} as never, parent, { reqId: 'r-1' }, options, {} as never);

t.test('no pino child is made for lines below the level; the first real line makes one, with the bindings', async (t) => {
  const { parent, lines, children } = parentLogger('warn');
  const log = make(parent);
  log.info('incoming request');
  log.debug('detail');
  t.equal(children(), 0, 'nothing written, nothing built');
  t.equal(log.level, 'warn');
  log.warn({ code: 7 }, 'slow');
  log.error('failed');
  t.equal(children(), 1, 'one child, made once');
  t.match(lines, [{ reqId: 'r-1', code: 7, msg: 'slow' }, { reqId: 'r-1', msg: 'failed' }]);
  t.equal(log.child({ step: 'x' }).level, 'warn');
});

t.test('a route with its own level or serializers gets its child at once', async (t) => {
  const { parent, children } = parentLogger('warn');
  const log = make(parent, { level: 'debug' });
  t.equal(children(), 1);
  t.equal(log.level, 'debug');
});

t.test("Fastify's request lines follow each request's own logger: none at warn, all for a route logging at info", async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const app = Fastify({ loggerInstance: pino({ level: 'warn' }, stream), childLoggerFactory: lazyRequestLogger, logController: new RequestLogController() });
  app.get('/quiet', async () => 'ok');
  app.get('/verbose', { logLevel: 'info' }, async () => 'ok');
  t.teardown(() => app.close());
  t.equal((await app.inject('/quiet')).statusCode, 200);
  t.same(lines, [], 'a warn-level request that goes well writes nothing');
  t.equal((await app.inject('/verbose')).statusCode, 200);
  t.same(lines.map((l) => l.msg), ['incoming request', 'request completed'], 'a route at info still gets both lines');
  t.equal(lines[1]?.reqId, lines[0]?.reqId, 'under one request id');
});

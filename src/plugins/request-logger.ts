import { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogArgs = Parameters<FastifyBaseLogger['info']>;

/**
 * A request's logger that makes its pino child only when a line is really
 * written. pino builds a child's bindings text eagerly, which cost about 2 µs
 * on every request, while at the usual `warn` level a request that goes well
 * writes nothing. Same bindings, options and output as Fastify's own child.
 */
class LazyRequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(private readonly parent: FastifyBaseLogger & { isLevelEnabled?(level: string): boolean }, private readonly bindings: Bindings, private readonly options: ChildLoggerOptions) {}

  private get real(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return writesAt(this.#child ?? this.parent, level);
  }

  private write(level: Level, args: LogArgs): void {
    if (this.#child === undefined && this.parent.isLevelEnabled?.(level) === false) return;
    (this.real[level] as (...a: LogArgs) => void)(...args);
  }

  fatal(...args: LogArgs): void { this.write('fatal', args); }
  error(...args: LogArgs): void { this.write('error', args); }
  warn(...args: LogArgs): void { this.write('warn', args); }
  info(...args: LogArgs): void { this.write('info', args); }
  debug(...args: LogArgs): void { this.write('debug', args); }
  trace(...args: LogArgs): void { this.write('trace', args); }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/**
 * Fastify `childLoggerFactory`: lazy children, except when a route sets its
 * own level or serializers (then the child must exist to carry them).
 */
export const lazyRequestLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options) {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options);
  return new LazyRequestLogger(logger, bindings, options);
};

type LevelAware = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

/** Whether `log` writes at `level` (a logger that cannot tell is taken to write). */
function writesAt(log: LevelAware, level: string): boolean {
  return log.isLevelEnabled?.(level) ?? true;
}

/**
 * Fastify's own lines for each request ("incoming request", "request
 * completed") are written at info: below that level (the usual warn) they are
 * not even prepared, which cost about 2 µs per request. A failed request's
 * line and every other line Fastify writes (stream and serializer errors) are
 * unchanged.
 */
export class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (writesAt(request.log, 'info')) super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error || writesAt(request.log, 'info')) super.requestCompleted(error, request, reply, metadata);
  }
}

import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
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

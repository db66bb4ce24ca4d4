import { errors as undiciErrors, request } from 'undici';

/** The deadline of one whole request (sent, answered and read) unless the caller sets one (`--timeout`). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The longest deadline Node's timers hold (32-bit milliseconds); a longer one would fire at once. */
export const MAX_TIMEOUT_MS = 2_147_483_000;

/**
 * A request that could not complete: no answer (a network error), or no whole
 * answer before the deadline. The server's conformance could not be judged, which
 * is not a failure of the check: reports call it an error.
 */
export class RequestIncomplete extends Error {
  override readonly name = 'RequestIncomplete';

  constructor(
    readonly method: string,
    readonly url: string,
    /** What went wrong, without the request: `connect ECONNREFUSED ...`, or the deadline passed. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${method} ${url} could not complete: ${reason}`, options);
  }
}

export interface TimedRequest {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface TimedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
}

/** `1.5 s`, `30 s`: how the deadline is named in messages. */
export function formatDeadline(timeoutMs: number): string {
  return `${Number((timeoutMs / 1000).toFixed(3))} s`;
}

function isDeadline(err: unknown): boolean {
  return (
    (err instanceof Error && err.name === 'TimeoutError') ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  );
}

/**
 * Sends one request and reads its whole answer within `timeoutMs`. undici's
 * headersTimeout and bodyTimeout are idle timers: a server sending one byte every
 * few seconds never trips them, and the run would hang. The abort signal bounds
 * the whole exchange, body included; the idle timers stay, for a server that
 * stops sending altogether.
 */
export async function sendWithDeadline(url: string, req: TimedRequest, deadlineMs = DEFAULT_TIMEOUT_MS): Promise<TimedResponse> {
  // Whole milliseconds, at least one: Node's timers refuse anything else.
  const timeoutMs = Math.max(1, Math.round(Math.min(deadlineMs, MAX_TIMEOUT_MS)));
  // Made before the request: a mistake of the kit here is no answer of the server (RequestIncomplete).
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await request(url, {
      method: req.method as 'GET',
      headers: req.headers,
      body: req.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, bytes };
  } catch (err) {
    // The kit built a request undici refuses: the kit's own mistake, not the server's.
    if (err instanceof undiciErrors.InvalidArgumentError) throw err;
    if (isDeadline(err)) {
      throw new RequestIncomplete(req.method, url, `no complete answer within the ${formatDeadline(timeoutMs)} deadline (--timeout)`, { cause: err });
    }
    throw new RequestIncomplete(req.method, url, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

import type { OperationOutcome } from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';

/** A bearer token the run was given (`--token`, a `--space-*` actor's), with the words that name it to the operator. */
export interface GivenCredential {
  token: string;
  /** `--token`, `the patient's token (--space-patient-token, patientToken in --space-actors)`. */
  name: string;
}

/** What of a 401 answer the sentence quotes. */
export interface RefusedAnswer {
  method: string;
  url: string;
  headers: Record<string, string>;
  json: unknown;
}

/**
 * One sentence saying which credential the server refused and why: when the
 * token is a JWT whose `exp` has passed, when it expired (read from the token,
 * unverified: the server's 401 is the verdict, the date only explains it);
 * then the request and the server's own reason (OperationOutcome diagnostics,
 * else its `WWW-Authenticate` challenge).
 */
export function describeRefusal(name: string, token: string, res: RefusedAnswer, during: boolean, now = Date.now()): string {
  const expiredAt = expiryOf(token);
  const expired = expiredAt !== undefined && expiredAt <= now
    ? `, which expired at ${new Date(expiredAt).toISOString()} (${elapsed(now - expiredAt)} ago)`
    : '';
  const when = during ? `${expired ? ',' : ''} during the run` : '';
  const reason = serverReason(res);
  return `the server refused ${name}${expired}${when}: ${res.method} ${res.url} answered 401${reason ? ` (${reason})` : ''}`;
}

/** The `exp` of a JWT in epoch ms, when the token is one. */
function expiryOf(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function serverReason(res: RefusedAnswer): string | undefined {
  const outcome = res.json as OperationOutcome | undefined;
  if (outcome?.resourceType === 'OperationOutcome') {
    const text = outcome.issue?.map((i) => i.diagnostics ?? i.details?.text).filter(Boolean).join('; ');
    if (text) return text;
  }
  const challenge = res.headers['www-authenticate'];
  return challenge ? `WWW-Authenticate: ${challenge}` : undefined;
}

/** `42 s`, `7 min`, `3 h`, `2 days`. */
function elapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.round(min / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`;
}

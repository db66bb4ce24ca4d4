import { readFile } from 'node:fs/promises';
import { importJWK } from 'jose';
import type { JWK } from 'jose';

/** The Backend Services key given with `--private-key`, as read from its file. */
export interface PrivateKeyFile {
  privateJwk: JWK;
  /** Present when the file is the server's dev-client.json shape. */
  clientId?: string;
  tokenUrl?: string;
}

const EXPECTED = 'a private JWK (kid, alg RS384 or ES384) or { "clientId", "privateJwk" } in JSON';

/** Why the file cannot be read, in words: errno codes mean little to an operator. */
function unreadable(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return `--private-key ${file}: no such file`;
  if (err.code === 'EISDIR') return `--private-key ${file} is a directory, not a key file`;
  if (err.code === 'EACCES' || err.code === 'EPERM') return `--private-key ${file} cannot be read: permission denied`;
  return `--private-key ${file} cannot be read: ${err.message}`;
}

/**
 * Reads `--private-key FILE`: a bare private JWK, or an object with `privateJwk`
 * (and optionally `clientId`, `tokenUrl`), so a server's generated client file
 * can be used as is. Every problem is one sentence naming the file, checked
 * before any request: the key is imported here, not at the first token request.
 */
export async function loadPrivateKeyFile(file: string): Promise<PrivateKeyFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(unreadable(file, err as NodeJS.ErrnoException), { cause: err });
  }
  // A PEM key has no kid, which the server needs to find the client's registered key.
  if (/-----BEGIN [A-Z ]*KEY-----/.test(text)) {
    throw new Error(`--private-key ${file} holds a PEM key; the kit needs ${EXPECTED}, with the kid the server registered`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--private-key ${file} is not JSON (${(err as Error).message}); it must hold ${EXPECTED}`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`--private-key ${file} holds no JSON object; it must hold ${EXPECTED}`);
  const record = parsed as Record<string, unknown>;
  const jwk = (record.privateJwk ?? record) as JWK;
  if (!jwk || typeof jwk !== 'object' || !jwk.kty) throw new Error(`--private-key ${file} holds no JWK (no kty); it must hold ${EXPECTED}`);
  if (!jwk.d) throw new Error(`--private-key ${file} holds a public JWK, not a private key (no "d")`);
  if (jwk.alg !== 'RS384' && jwk.alg !== 'ES384') throw new Error(`--private-key ${file}: the JWK's alg must be RS384 or ES384 (found ${String(jwk.alg)})`);
  if (!jwk.kid) throw new Error(`--private-key ${file}: the JWK needs a kid (the id of the key the server registered)`);
  try {
    await importJWK(jwk, jwk.alg);
  } catch (err) {
    throw new Error(`--private-key ${file} holds a JWK that is no usable ${jwk.alg} private key (${(err as Error).message})`, { cause: err });
  }
  return {
    privateJwk: jwk,
    clientId: typeof record.clientId === 'string' ? record.clientId : undefined,
    tokenUrl: typeof record.tokenUrl === 'string' ? record.tokenUrl : undefined,
  };
}

/**
 * Obtains an access token for the local development client from a running
 * server, through its real token endpoint (SMART Backend Services):
 *
 *   TOKEN=$(npm run -s token -- --scope 'system/*.cruds' [--url http://127.0.0.1:8080] [--data-dir ./data])
 *
 * Prints only the access token on stdout; everything else goes to stderr.
 */
import { importJWK, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { DEV_CLIENT_FILE, readDevClientFile } from '../src/auth/clients.js';
import { JWT_BEARER_ASSERTION_TYPE } from '../src/auth/client-assertion.js';
import { publicUrlOf } from '../src/config.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scope: { type: 'string', default: 'system/*.cruds' },
      // What the server takes as its public URL from the same environment (PUBLIC_URL, or HOST and PORT).
      url: { type: 'string', default: publicUrlOf(process.env) },
      'data-dir': { type: 'string', default: process.env.DATA_DIR ?? './data' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stderr.write("usage: npm run -s token -- [--scope 'system/*.cruds'] [--url http://127.0.0.1:8080] [--data-dir ./data]\n");
    return 0;
  }
  const baseUrl = values.url.replace(/\/+$/, '');
  const file = path.resolve(values['data-dir'], DEV_CLIENT_FILE);
  const dev = await readDevClientFile(file);
  if (!dev) {
    process.stderr.write(`No development client at ${file}. Start the server once without CLIENTS_FILE (npm start) to create it, or pass --data-dir.\n`);
    return 1;
  }
  const tokenUrl = `${baseUrl}/auth/token`;
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: dev.alg, kid: dev.privateJwk.kid!, typ: 'JWT' })
    .setIssuer(dev.clientId)
    .setSubject(dev.clientId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('4m')
    .sign(await importJWK(dev.privateJwk, dev.alg));
  let response;
  try {
    response = await request(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion,
        scope: values.scope,
      }).toString(),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  } catch (err) {
    process.stderr.write(`Cannot reach the server at ${baseUrl} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Is it running (npm start)?\n`);
    return 1;
  }
  const text = await response.body.text();
  let body: { access_token?: string; error?: string; error_description?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // reported below with the status
  }
  if (response.statusCode !== 200 || !body.access_token) {
    const why = body.error ? `${body.error}: ${body.error_description ?? ''}` : text.slice(0, 200);
    process.stderr.write(`Token request to ${tokenUrl} failed with ${response.statusCode}: ${why}\n`);
    if (body.error === 'invalid_client') process.stderr.write(`Does ${file} belong to this server's data directory, and does --url match its PUBLIC_URL?\n`);
    return 1;
  }
  process.stdout.write(`${body.access_token}\n`);
  return 0;
}

process.exitCode = await main();

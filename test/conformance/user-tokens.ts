import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';

/**
 * A person's token from the real authorize pages over HTTP, the way a browser
 * would: authorize -> sign-in -> consent (approve every offered scope) -> code -> token.
 */
export interface UserTokenFlow {
  origin: string;
  fhirBase: string;
  username: string;
  password: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  /** EHR launch value (from POST /auth/launch), binding the patient. */
  launch?: string;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

function requestIdOf(html: string): string {
  const m = /name="request_id" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no request_id in page: ${html.slice(0, 300)}`);
  return m[1]!;
}

export async function userToken(f: UserTokenFlow): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    response_type: 'code', client_id: f.clientId, redirect_uri: f.redirectUri, scope: f.scope, state: 's1', aud: f.fhirBase,
    code_challenge: challenge, code_challenge_method: 'S256', ...(f.launch ? { launch: f.launch } : {}),
  });
  const start = await request(`${f.origin}/auth/authorize?${query}`);
  const startHtml = await start.body.text();
  if (start.statusCode !== 200) throw new Error(`authorize: ${start.statusCode} ${String(start.headers.location ?? startHtml.slice(0, 300))}`);
  const signIn = await request(`${f.origin}/auth/authorize/sign-in`, {
    method: 'POST', headers: form, body: new URLSearchParams({ request_id: requestIdOf(startHtml), username: f.username, password: f.password }).toString(),
  });
  const consentHtml = await signIn.body.text();
  if (signIn.statusCode !== 200) throw new Error(`sign-in: ${signIn.statusCode} ${String(signIn.headers.location ?? "")} ${consentHtml.slice(0, 300)}`);
  const consent = new URLSearchParams({ request_id: requestIdOf(consentHtml), decision: 'approve' });
  for (const m of consentHtml.matchAll(/name="scope" value="([^"]+)"/g)) consent.append('scope', m[1]!.replace(/&amp;/g, '&'));
  const done = await request(`${f.origin}/auth/authorize/consent`, { method: 'POST', headers: form, body: consent.toString() });
  const doneText = await done.body.text();
  if (done.statusCode !== 302) throw new Error(`consent: ${done.statusCode} ${doneText.slice(0, 300)}`);
  const code = new URL(String(done.headers.location)).searchParams.get('code');
  if (!code) throw new Error(`no code in ${String(done.headers.location)}`);
  const token = await request(`${f.origin}/auth/token`, {
    method: 'POST', headers: form,
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: f.redirectUri, client_id: f.clientId, code_verifier: verifier }).toString(),
  });
  const json = (await token.body.json()) as { access_token?: string };
  if (token.statusCode !== 200 || !json.access_token) throw new Error(`token: ${token.statusCode} ${JSON.stringify(json)}`);
  return json.access_token;
}

/** An EHR launch for that patient, issued to the system client's token. */
export async function ehrLaunch(origin: string, systemToken: string, patient: string): Promise<string> {
  const res = await request(`${origin}/auth/launch`, {
    method: 'POST', headers: { authorization: `Bearer ${systemToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ patient }),
  });
  const json = (await res.body.json()) as { launch?: string };
  if (res.statusCode !== 201 || !json.launch) throw new Error(`launch: ${res.statusCode} ${JSON.stringify(json)}`);
  return json.launch;
}

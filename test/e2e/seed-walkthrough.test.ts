import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { offeredScopes, requestIdOf, tempDir } from '../helpers/tokens.js';
import { freePort, startChildServer, stopChildServer } from '../helpers/child-server.js';
import { nodeArgsFor, repoRoot } from '../helpers/repo.js';

/** Follows the README's demo walkthrough exactly as `npm run seed` prints it. */
t.test('npm run seed, then the printed standalone launch works step by step', async (t) => {
  const dataDir = await tempDir(t, 'carnet-seed-');
  const port = await freePort();
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' };
  const { stdout } = await promisify(execFile)(process.execPath, nodeArgsFor('scripts/seed.ts'), { cwd: repoRoot, env });
  const authorizeUrl = /(http:\/\/\S+\/auth\/authorize\?\S+)/.exec(stdout)?.[1];
  const verifier = /code_verifier=(\S+)/.exec(stdout)?.[1];
  t.ok(authorizeUrl && verifier, 'the seed prints an authorize URL and a PKCE verifier');

  const server = await startChildServer({ DATA_DIR: dataDir, PORT: String(port) });
  t.teardown(() => stopChildServer(server));

  // The printed standalone launch, step by step.
  const launch = async (url: string) => {
    // 1. the authorize URL shows the sign-in page
    const start = await request(url);
    t.equal(start.statusCode, 200);
    const signInHtml = await start.body.text();
    // 2. sign in as helene and approve everything offered
    const signIn = await request(`${server.url}/auth/authorize/sign-in`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ request_id: requestIdOf(signInHtml), username: 'helene', password: 'carnet-demo-2026' }).toString(),
    });
    t.equal(signIn.statusCode, 200);
    const consentHtml = await signIn.body.text();
    const consent = new URLSearchParams({ request_id: requestIdOf(consentHtml), decision: 'approve' });
    for (const scope of offeredScopes(consentHtml)) consent.append('scope', scope);
    const approved = await request(`${server.url}/auth/authorize/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: consent.toString() });
    t.equal(approved.statusCode, 302);
    await approved.body.text();
    const redirect = new URL(String(approved.headers.location));
    t.equal(`${redirect.origin}${redirect.pathname}`, 'http://localhost:5555/callback');
    t.equal(redirect.searchParams.get('state'), 'demo');
    // 3. exchange the code as the printed curl does
    const tokenRes = await request(`${server.url}/auth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'demo-app', redirect_uri: 'http://localhost:5555/callback', code_verifier: verifier!, code: redirect.searchParams.get('code')! }).toString(),
    });
    t.equal(tokenRes.statusCode, 200);
    return (await tokenRes.body.json()) as { access_token: string; patient: string; id_token?: string };
  };
  const token = await launch(authorizeUrl!);
  t.equal(token.patient, 'helene');
  t.ok(token.id_token, 'openid gives an id_token');
  // 4. read her vital signs
  const read = await request(`${server.fhirBase}/Observation?patient=helene&category=vital-signs`, { headers: { authorization: `Bearer ${token.access_token}` } });
  t.equal(read.statusCode, 200);
  const bundle = (await read.body.json()) as { entry?: Array<{ resource: { id: string } }> };
  t.same((bundle.entry ?? []).map((e) => e.resource.id).sort(), ['helene-bp', 'helene-weight']);
  // and nothing of her son's space
  const other = await request(`${server.fhirBase}/DocumentReference/leo-vaccination`, { headers: { authorization: `Bearer ${token.access_token}` } });
  t.equal(other.statusCode, 403);
  await other.body.text();
  // 5. with the documents' scopes, the consultation report's PDF, as its attachment URL gives it
  const withDocuments = new URL(authorizeUrl!);
  withDocuments.searchParams.set('scope', 'launch/patient patient/DocumentReference.rs patient/Binary.rs');
  const reader = await launch(withDocuments.toString());
  const report = (await (await request(`${server.fhirBase}/DocumentReference/helene-report`, { headers: { authorization: `Bearer ${reader.access_token}` } })).body.json()) as { content: Array<{ attachment: { url: string } }> };
  const pdf = await request(new URL(report.content[0]!.attachment.url, `${server.fhirBase}/`), { headers: { authorization: `Bearer ${reader.access_token}` } });
  t.equal(pdf.statusCode, 200, 'the holder reads her report\'s bytes');
  t.equal(pdf.headers['content-type'], 'application/pdf');
  t.match(Buffer.from(await pdf.body.arrayBuffer()).toString('latin1'), /^%PDF/);
});

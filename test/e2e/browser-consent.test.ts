import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { freePort } from '../helpers/child-server.js';
import { buildSpace, observation, PASSWORD, seed } from '../helpers/people.js';
import { appClient, pkcePair } from '../helpers/tokens.js';

/**
 * The sign-in and consent pages in a real browser (Debian's chromium driven by
 * playwright-core): a person signs in, unticks one scope, approves, and the
 * browser lands on the app's redirect URI; the app's page then exchanges the
 * code and reads the FHIR API from its own origin (CORS), and the granted
 * scope lacks what was unticked.
 */
const CHROMIUM = '/usr/bin/chromium';
const SCOPE = 'launch/patient patient/Observation.rs patient/DocumentReference.rs';
const UNTICKED = 'patient/DocumentReference.rs';

t.test('consent in a real browser', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)` }, async (t) => {
  // The app's redirect URI: a tiny server on 127.0.0.1 that records where the browser lands.
  const landed: URL[] = [];
  const callback = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') landed.push(url); // not the browser's /favicon.ico
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>App</title><p id="done">Connected</p>');
  });
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => callback.close(resolve)));
  const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;

  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientId = 'browser-app';
  const space = await buildSpace(t, { config: { port, publicUrl }, apps: [appClient({ clientId, redirectUri, scope: SCOPE })] });
  await space.app.listen({ host: '127.0.0.1', port });
  const weight = await seed(space, observation(space.alice, 'vital-signs'));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();

  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: SCOPE, state: 'browser-state',
    aud: `${publicUrl}/fhir`, code_challenge: challenge, code_challenge_method: 'S256',
  });
  await page.goto(`${publicUrl}/auth/authorize?${query}`);
  await page.fill('#username', space.users.alice);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${publicUrl}/auth/authorize/sign-in`), page.click('button[type=submit]')]);

  const boxes = page.locator('input[name="scope"]');
  t.same((await boxes.evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value))).sort(), SCOPE.split(' ').sort(), 'every asked scope is offered, ticked');
  t.match(await page.textContent('body'), /Observation|signes vitaux|observations/i, 'described to the person');
  await page.uncheck(`input[name="scope"][value="${UNTICKED}"]`);
  await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name="decision"][value="approve"]')]);
  t.equal(await page.textContent('#done'), 'Connected', 'the browser landed on the app');

  t.equal(landed.length, 1);
  const code = landed[0]!.searchParams.get('code');
  t.equal(landed[0]!.searchParams.get('state'), 'browser-state');
  t.ok(code, 'with a code');

  // The app is a page on its own origin (another port): it exchanges the code and reads the FHIR API
  // with fetch, as a browser app with PKCE does, which works only if the server answers CORS preflights.
  t.not(new URL(page.url()).origin, publicUrl, 'the page is cross-origin to the server');
  const exchanged = await page.evaluate(async ({ tokenUrl, form }) => {
    const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    return { status: res.status, body: await res.json() };
  }, { tokenUrl: `${publicUrl}/auth/token`, form: { grant_type: 'authorization_code', code: code!, code_verifier: verifier, client_id: clientId, redirect_uri: redirectUri } });
  t.equal(exchanged.status, 200, JSON.stringify(exchanged.body).slice(0, 200));
  const tokens = exchanged.body as { scope: string; access_token: string; patient: string };
  t.same(tokens.scope.split(' ').sort(), SCOPE.split(' ').filter((s) => s !== UNTICKED).sort(), 'the granted scope lacks the unticked one');
  t.equal(tokens.patient, space.alice.slice('Patient/'.length));

  const read = (url: string) => page.evaluate(async ({ url, token }) => {
    // The Authorization header makes this a non-simple request: the browser sends a preflight first.
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    return { status: res.status, etag: res.headers.get('etag'), body: await res.json() as { id?: string; resourceType?: string } };
  }, { url, token: tokens.access_token });
  const granted = await read(`${publicUrl}/fhir/Observation/${weight}`);
  t.equal(granted.status, 200, 'the page reads what was granted');
  t.equal(granted.body.id, weight);
  t.equal(granted.etag, 'W/"1"', 'and sees the ETag (exposed to scripts)');
  const refused = await read(`${publicUrl}/fhir/DocumentReference?patient=${space.alice}`);
  t.equal(refused.status, 403, 'not what was unticked, and the page can read why');
  t.equal(refused.body.resourceType, 'OperationOutcome');
});

import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { freePort } from '../helpers/child-server.js';
import { buildSpace, observation, PASSWORD, seed } from '../helpers/people.js';
import { appClient, exchangeCode, pkcePair } from '../helpers/tokens.js';

/**
 * The sign-in and consent pages in a real browser (Debian's chromium driven by
 * playwright-core): a person signs in, unticks one scope, approves, and the
 * browser lands on the app's redirect URI; the granted scope lacks what was
 * unticked.
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
  const res = await exchangeCode(space.app, code!, verifier, clientId, redirectUri);
  t.equal(res.statusCode, 200);
  const tokens = res.json() as { scope: string; access_token: string; patient: string };
  t.same(tokens.scope.split(' ').sort(), SCOPE.split(' ').filter((s) => s !== UNTICKED).sort(), 'the granted scope lacks the unticked one');
  t.equal(tokens.patient, space.alice.slice('Patient/'.length));
  const authorization = `Bearer ${tokens.access_token}`;
  t.equal((await space.app.inject({ url: `/fhir/Observation/${weight}`, headers: { authorization } })).statusCode, 200, 'reads what was granted');
  t.equal((await space.app.inject({ url: `/fhir/DocumentReference?patient=${space.alice}`, headers: { authorization } })).statusCode, 403, 'not what was unticked');
});

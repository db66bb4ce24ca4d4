import t from 'tap';
import { redirectUriProblem } from '../../src/auth/redirect-uris.js';
import { catalogueScopeProblems, honoursGrant } from '../../src/auth/catalogue.js';
import type { CatalogueEntry } from '../../src/auth/catalogue.js';

t.test('redirect URIs: https, loopback http, a native app\'s reverse-domain scheme', async (t) => {
  for (const uri of [
    'https://app.example/cb', 'https://app.example:8443/cb?x=1', 'http://127.0.0.1:5555/cb', 'http://127.8.9.10/cb', 'http://[::1]:80/cb',
    'http://localhost:5555/callback', 'com.example.app:/oauth2redirect', 'fr.sante.carnet.mesures:/cb',
  ]) t.equal(redirectUriProblem(uri), undefined, uri);
  const refused: Array<[string, RegExp]> = [
    ['javascript:alert(1)', /javascript: scheme/],
    ['data:text/html,x', /data: scheme/],
    ['vbscript:x', /vbscript: scheme/],
    ['file:///etc/passwd', /file: scheme/],
    ['blob:https://app.example/1', /blob: scheme/],
    ['about:blank', /about: scheme/],
    ['http://app.example/cb', /loopback/],
    ['http://127.0.0.1.evil.example/cb', /loopback/],
    ['http://10.0.0.1/cb', /loopback/],
    ['https://app.example/cb#x', /fragment/],
    ['https://u:p@app.example/cb', /credentials/],
    ['myapp:/cb', /reverse domain name/],
    ['wss://app.example/cb', /reverse domain name/],
    ['/relative/cb', /not an absolute URI/],
  ];
  for (const [uri, why] of refused) t.match(redirectUriProblem(uri), why, uri);
});

t.test('scopes a catalogue app may be registered with', async (t) => {
  t.same(catalogueScopeProblems('launch launch/patient openid fhirUser offline_access online_access patient/*.rs patient/Observation.c', true), []);
  t.match(catalogueScopeProblems('system/*.cruds', true), [/public client cannot have system\/ scopes/]);
  t.match(catalogueScopeProblems('system/*.cruds', false), [/Backend Services/]);
  t.match(catalogueScopeProblems('user/*.rs patient/*.rs', false), [/user\/\*\.rs: a catalogue app acts for a patient/]);
  t.match(catalogueScopeProblems('openid profile email', true), [/profile: not a scope/, /email: not a scope/]);
});

t.test('a withdrawal ends what was authorised before it, also once the app is referenced again', async (t) => {
  const entry = (status: CatalogueEntry['status'], withdrawnAt?: number): CatalogueEntry => ({
    clientId: 'a', name: 'A', kind: 'app', scope: 'patient/*.rs', status, registeredAt: '', updatedAt: '',
    ...(withdrawnAt !== undefined ? { withdrawnAt: new Date(withdrawnAt).toISOString() } : {}),
  });
  t.equal(honoursGrant(entry('referenced'), 1000), true);
  t.equal(honoursGrant(entry('withdrawn', 2000), 1000), false);
  t.equal(honoursGrant(entry('referenced', 2000), 1000), false, 'authorised before the withdrawal');
  t.equal(honoursGrant(entry('referenced', 2000), 2000), false, 'at the same millisecond');
  t.equal(honoursGrant(entry('referenced', 2000), 2001), true, 'authorised after it');
  t.equal(honoursGrant(entry('registered'), 3000), false);
  t.equal(honoursGrant(undefined, 3000), false);
});

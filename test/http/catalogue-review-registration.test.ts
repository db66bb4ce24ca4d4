import t from 'tap';
import { validateClients } from '../../src/auth/clients.js';
import { buildCatalogueServer } from '../helpers/people.js';
import { appClient, pkcePair } from '../helpers/tokens.js';

const ERROR_CODES = 'https://carnet.dev/fhir/CodeSystem/error-code';

/**
 * `POST /admin/apps` took any redirect URI (`javascript:alert(1)`, to which
 * the authorization server then sent browsers with a code) and any scope (a
 * public app with `system/*.cruds`, `user/*.cruds`). A registration is now
 * refused with FHIR_ERR_CATALOGUE_REGISTRATION unless its redirect URIs are
 * https, loopback http (RFC 8252 §7.3) or a native app's reverse-domain
 * scheme (§7.1), without fragment, and unless its scopes are ones a catalogue
 * app can ever be granted.
 */
t.test('catalogue registration: redirect URIs and scopes', async (t) => {
  const { app, adminAuth } = await buildCatalogueServer(t, 'carnet-catalogue-review-');
  const register = (payload: Record<string, unknown>) => app.inject({
    method: 'POST', url: '/admin/apps', headers: { authorization: adminAuth, 'content-type': 'application/json' },
    payload: { name: 'App', public: true, scope: 'launch/patient openid fhirUser patient/*.rs', ...payload },
  });
  const refused = async (payload: Record<string, unknown>, pattern: RegExp, label: string) => {
    const res = await register(payload);
    t.equal(res.statusCode, 400, `${label}: 400`);
    const issue = res.json().issue?.[0];
    t.equal(issue?.details?.coding?.[0]?.code, 'FHIR_ERR_CATALOGUE_REGISTRATION', `${label}: FHIR_ERR_CATALOGUE_REGISTRATION`);
    t.equal(issue?.details?.coding?.[0]?.system, ERROR_CODES);
    t.match(issue?.diagnostics, pattern, `${label}: says why`);
  };

  for (const uri of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox(1)', 'file:///etc/passwd', 'blob:https://x.test/1', 'about:blank']) {
    await refused({ redirectUris: [uri] }, /redirect URI/, uri);
  }
  await refused({ redirectUris: ['http://app.example/cb'] }, /http on a host other than the loopback/, 'http to another host');
  await refused({ redirectUris: ['https://app.example/cb#frag'] }, /fragment/, 'a fragment');
  await refused({ redirectUris: ['myapp:/cb'] }, /reverse domain name/, 'a private scheme that is no reverse domain name');
  await refused({ redirectUris: ['https://ok.test/cb', 'https://'] }, /"https:\/\/" is not an absolute URI/, 'one bad URI among good ones');
  await refused({ redirectUris: ['https://user:pw@ok.test/cb'] }, /credentials/, 'credentials in the URI');

  await refused({ redirectUris: ['https://ok.test/cb'], scope: 'system/*.cruds launch/patient' }, /public client cannot have system\/ scopes/, 'a public app with system/ scopes');
  await refused({ redirectUris: ['https://ok.test/cb'], public: false, scope: 'system/Observation.rs' }, /system\/ scopes are for Backend Services/, 'a confidential app with system/ scopes');
  await refused({ redirectUris: ['https://ok.test/cb'], scope: 'user/*.cruds openid fhirUser' }, /user\/ scopes are never granted/, 'user/ scopes');
  await refused({ redirectUris: ['https://ok.test/cb'], scope: 'openid profile' }, /profile: not a scope this server grants/, 'a scope this server never grants');
  t.same((await app.inject({ url: '/admin/apps', headers: { authorization: adminAuth } })).json().apps, [], 'nothing was registered');

  // What native and web apps need is accepted.
  const accepted = await register({
    clientId: 'native', scope: 'launch/patient openid fhirUser offline_access online_access patient/Observation.rs patient/DocumentReference.cruds',
    redirectUris: ['https://app.test/cb', 'http://127.0.0.1:8765/cb', 'http://[::1]/cb', 'http://localhost:5555/callback', 'com.example.app:/oauth2redirect'],
  });
  t.equal(accepted.statusCode, 201, accepted.body.slice(0, 300));
  const confidential = await register({ clientId: 'web', public: false, redirectUris: ['https://web.test/cb'], scope: 'launch launch/patient patient/*.rs' });
  t.equal(confidential.statusCode, 201, 'a confidential app with patient scopes and launch');

  // The same rules hold for apps of CLIENTS_FILE.
  t.throws(() => validateClients([appClient({ redirectUri: 'javascript:alert(1)' })], 'clients.json'), /redirectUris redirect URI "javascript:alert\(1\)" uses the javascript: scheme/);
  t.doesNotThrow(() => validateClients([appClient({ redirectUri: 'http://127.0.0.1:9000/cb' })], 'clients.json'));
  t.throws(() => validateClients([{ ...appClient(), resourceServer: true }], 'clients.json'), /a resource server must authenticate/, 'a public client cannot be a resource server');
});

t.test('a redirect URI stored before the check is never redirected to', async (t) => {
  const { app } = await buildCatalogueServer(t, 'carnet-catalogue-review-legacy-');
  // Written as the registration of an earlier release accepted it.
  await app.carnetAuth.catalogue.register({ clientId: 'evil', name: 'Evil', redirectUris: ['javascript:alert(1)'], tokenEndpointAuthMethod: 'none', scope: 'launch/patient patient/*.rs' });
  await app.carnetAuth.catalogue.setStatus('evil', 'referenced');
  const { challenge } = pkcePair();
  const res = await app.inject({
    url: `/auth/authorize?${new URLSearchParams({
      response_type: 'code', client_id: 'evil', redirect_uri: 'javascript:alert(1)', scope: 'launch/patient patient/*.rs', state: 's',
      aud: 'http://carnet.test/fhir', code_challenge: challenge, code_challenge_method: 'S256',
    })}`,
  });
  t.equal(res.statusCode, 400, 'an error page, not a sign-in page');
  t.equal(res.headers.location, undefined, 'and no redirect');
  t.match(res.body, /not one this server redirects to/);
});

import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify';
import { OAuthError } from '../auth/oauth-error.js';
import { FhirError } from '../errors.js';
import { foldUsername } from '../auth/oauth/accounts.js';
import { issueAuthorizationCode } from '../auth/oauth/authorization-code-grant.js';
import {
  AuthorizePageError, AuthorizeRedirectError, finishAuthorization, grantFromConsent, LAUNCH_PATIENT_REFUSED, loadAuthorization, mayTakeLaunchPatient, save,
  scopesForAccount, startAuthorization,
} from '../auth/oauth/authorization-requests.js';
import type { AppAudience, PendingAuthorization } from '../auth/oauth/authorization-requests.js';
import { grantedResourceScopes } from '../auth/scopes.js';
import { noteConsentRenewal } from '../access/app-consent-standing.js';
import { renderConsent, renderError, renderSignIn } from '../auth/oauth/pages.js';
import type { ScopeDescription } from '../auth/oauth/scope-descriptions.js';
import { describeScope } from '../auth/oauth/scope-descriptions.js';
import type { Account } from '../auth/oauth/accounts.js';

const AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'aud', 'code_challenge', 'code_challenge_method', 'nonce', 'launch'] as const;

/**
 * SMART standalone launch, person-facing part: `GET /auth/authorize` checks the
 * request and shows the sign-in page; `POST /auth/authorize/sign-in` checks the
 * password (failures rate-limited per account and per address) and shows the
 * consent page; `POST /auth/authorize/consent` redirects to the app with a
 * single-use code (or an error). Registered by routes/auth.ts.
 */
export const authorizeRoutes: FastifyPluginAsync = async (app) => {
  const auth = app.carnetAuth;
  /** A catalogue app (registered through /admin/apps) or one of CLIENTS_FILE: what it may be given depends on it. */
  const audienceOf = (clientId: string): AppAudience => ({ catalogueApp: !auth.clients.isFileClient(clientId) });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AuthorizeRedirectError) return redirectWith(reply, err.redirectUri, { error: err.oauth.error, error_description: err.oauth.message, state: err.state }, auth.config.publicUrl);
    if (err instanceof AuthorizePageError) return html(reply, 400, renderError(same(err.message)));
    if (err instanceof FhirError && err.statusCode === 503) {
      // The store is down for a moment (MongoDB without a primary): say so, and when to try again, rather than a 500.
      request.log.error({ err }, 'authorization page: store unavailable');
      if (err.headers) reply.headers(err.headers);
      return html(reply, 503, renderError(UNAVAILABLE));
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'authorization page failed');
    return html(reply, status, renderError(status === 500 ? { fr: 'Erreur interne du serveur', en: 'Internal server error' } : same('The request could not be read')));
  });

  app.get('/auth/authorize', async (request, reply) => {
    const query = singleValues(request.query, AUTHORIZE_PARAMS);
    const { pending, client } = await startAuthorization(query, auth);
    return html(reply, 200, renderSignIn({ requestId: pending.id, clientName: client.name }));
  });

  // SMART `authorize-post`: the same request as a form body.
  app.post('/auth/authorize', async (request, reply) => {
    const query = singleValues(request.body, AUTHORIZE_PARAMS);
    const { pending, client } = await startAuthorization(query, auth);
    return html(reply, 200, renderSignIn({ requestId: pending.id, clientName: client.name }));
  });

  app.post('/auth/authorize/sign-in', async (request, reply) => {
    const form = singleValues(request.body, ['request_id', 'username', 'password'] as const);
    const pending = await loadAuthorization(form.request_id, auth);
    if (!pending) return html(reply, 400, renderError(EXPIRED));
    const client = await auth.clients.get(pending.clientId);
    if (!client) return html(reply, 400, renderError(EXPIRED));
    const username = form.username ?? '';
    const accountKey = foldUsername(username);
    const retryAfter = await auth.signInLimiter.retryAfter(accountKey, request.ip);
    if (retryAfter > 0) {
      reply.header('retry-after', String(retryAfter));
      return html(reply, 429, renderSignIn({ requestId: pending.id, clientName: client.name, username, error: TOO_MANY }));
    }
    const account = form.password ? await auth.accounts.checkPassword(username, form.password) : undefined;
    if (!account) {
      await auth.signInLimiter.recordFailure(accountKey, request.ip);
      return html(reply, 401, renderSignIn({ requestId: pending.id, clientName: client.name, username, error: BAD_PASSWORD }));
    }
    await auth.signInLimiter.recordSuccess(accountKey);
    if (!mayTakeLaunchPatient(pending, account)) {
      await finishAuthorization(pending.id, auth);
      return redirectWith(reply, pending.redirectUri, { error: 'access_denied', error_description: LAUNCH_PATIENT_REFUSED, state: pending.state }, auth.config.publicUrl);
    }
    const offered = scopesForAccount(pending, account, audienceOf(client.clientId));
    if (offered.resources.length === 0 && offered.special.length === 0) {
      await finishAuthorization(pending.id, auth);
      return redirectWith(reply, pending.redirectUri, { error: 'access_denied', error_description: 'This account cannot grant the requested scopes', state: pending.state }, auth.config.publicUrl);
    }
    const signedIn: PendingAuthorization = { ...pending, accountUsername: account.username, authTime: auth.now() };
    await save(signedIn, auth);
    return html(reply, 200, consentPage(signedIn, account, client.name, audienceOf(client.clientId)));
  });

  app.post('/auth/authorize/consent', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const form = singleValues(body, ['request_id', 'patient', 'decision'] as const);
    const ticked = ([] as unknown[]).concat(body.scope ?? []).filter((s): s is string => typeof s === 'string');
    const pending = await loadAuthorization(form.request_id, auth);
    if (!pending?.accountUsername) return html(reply, 400, renderError(EXPIRED));
    // Single use from here: a consent form cannot be submitted twice.
    if (!(await finishAuthorization(pending.id, auth))) return html(reply, 400, renderError(EXPIRED));
    const back = (params: Record<string, string | undefined>) => redirectWith(reply, pending.redirectUri, { ...params, state: pending.state }, auth.config.publicUrl);
    if (form.decision !== 'approve') return back({ error: 'access_denied', error_description: 'The user refused' });
    const account = await auth.accounts.findByUsername(pending.accountUsername);
    if (!account) return back({ error: 'access_denied', error_description: 'The account no longer exists' });
    const client = await auth.clients.get(pending.clientId);
    // Withdrawn from the catalogue while the person was on these pages: nothing is authorised, nothing written.
    if (!client) return back({ error: 'access_denied', error_description: 'This app is no longer in the catalogue' });
    const audience = audienceOf(client.clientId);
    let code: string;
    try {
      const grant = grantFromConsent(pending, account, ticked, form.patient, auth.now(), audience);
      const forPerson = grant.kind === 'patient' || grant.kind === 'related-person';
      if (client.kind === 'app' && forPerson && auth.appConsents && (grant.patient !== undefined || audience.catalogueApp)) {
        // The app acts for the person only under their Consent, written now for the data it may reach. An
        // authorization of no data of the space (`openid fhirUser`, `launch/patient` alone) shares nothing:
        // no Consent is written, and the app's token reaches nothing there (the id_token says who signed in).
        if (grant.patient !== undefined && grantedResourceScopes(grant.scope).length > 0) {
          // A Consent for the app that stands already is replaced (made inactive, then the new one written): a
          // renewal, not a withdrawal, so that the authorizations it stood for (another device's) go on.
          const renewing = await auth.appConsents.isActive(grant.patient, client.clientId);
          const from = auth.now();
          await auth.appConsents.record({ patient: grant.patient, clientId: client.clientId, clientName: client.name, scope: grant.scope, performer: account.fhirUser });
          if (renewing) await noteConsentRenewal(auth.kv, `Patient/${grant.patient}`, client.clientId, { from, to: auth.now() });
        }
        grant.kind = 'app';
      }
      // Taken once the Consent is written: a withdrawal after this moment (of the app from the catalogue, of
      // the Consent) ends every token of this authorization for good (auth/oauth/token-standing.ts).
      grant.grantedAt = auth.now();
      code = await issueAuthorizationCode({ grant, redirectUri: pending.redirectUri, codeChallenge: pending.codeChallenge }, auth);
    } catch (err) {
      if (err instanceof OAuthError) return back({ error: err.error, error_description: err.message });
      throw err;
    }
    return back({ code });
  });
};

function consentPage(pending: PendingAuthorization, account: Account, clientName: string, audience: AppAudience): string {
  const offered = scopesForAccount(pending, account, audience);
  const scopes = [...offered.resources.map((s) => s.raw), ...offered.special].map((scope) => ({ scope, description: describeScope(scope) }));
  // A patient is chosen only when one will be bound (not for an EHR launch, which names it, nor when nothing of a space is offered).
  const choosesPatient = offered.patientContext && pending.launchPatient === undefined
    && (offered.resources.some((s) => s.context === 'patient') || offered.special.includes('launch/patient'));
  return renderConsent({
    requestId: pending.id,
    clientName,
    userName: account.displayName ?? account.username,
    scopes,
    patients: choosesPatient ? account.patients.map((id) => ({ id, label: `Patient/${id}` })) : [],
  });
}

const UNAVAILABLE: ScopeDescription = {
  fr: 'Le service est momentanément indisponible. Réessayez dans quelques instants.',
  en: 'The service is unavailable for a moment. Try again in a few moments.',
};

const EXPIRED: ScopeDescription = {
  fr: 'Cette demande d’autorisation a expiré ou a déjà été traitée. Recommencez depuis l’application.',
  en: 'This authorization request has expired or was already handled. Start again from the application.',
};
const BAD_PASSWORD: ScopeDescription = { fr: 'Identifiant ou mot de passe incorrect.', en: 'Wrong username or password.' };
const TOO_MANY: ScopeDescription = {
  fr: 'Trop de tentatives échouées. Réessayez plus tard.',
  en: 'Too many failed attempts. Try again later.',
};
const same = (text: string): ScopeDescription => ({ fr: text, en: text });

/** Each named parameter as one string; a repeated one is refused (it could smuggle a second value). */
function singleValues<K extends string>(source: unknown, names: readonly K[]): Partial<Record<K, string>> {
  const input = (source ?? {}) as Record<string, unknown>;
  const out: Partial<Record<K, string>> = {};
  for (const name of names) {
    const value = input[name];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') throw new AuthorizePageError(`The parameter ${name} is repeated`);
    out[name] = value;
  }
  return out;
}

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(body);
}

/** 302 to the client's registered redirect URI with the parameters added (RFC 9207 `iss` included). */
function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string | undefined>, issuer: string): FastifyReply {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries({ ...params, iss: issuer })) if (value !== undefined) url.searchParams.set(name, value);
  return reply.code(302).header('cache-control', 'no-store').header('location', url.toString()).send();
}


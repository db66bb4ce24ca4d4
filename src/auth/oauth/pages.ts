import type { ScopeDescription } from './scope-descriptions.js';

/**
 * The authorization server's HTML pages: plain forms, no script, both French
 * and English. Every value is escaped. Form fields (documented for test tools
 * and integrators):
 *
 * - sign-in, `POST /auth/authorize/sign-in`: `request_id`, `username`, `password`;
 * - consent, `POST /auth/authorize/consent`: `request_id`, `scope` (repeated,
 *   one per ticked scope; every scope can be unticked), `patient` (the chosen
 *   patient id when the account may act for several), `decision` (`approve` or `deny`).
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
label{display:block;margin:.75rem 0 .25rem}input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem}
.en{color:#555}.error{color:#a00;border:1px solid #a00;padding:.5rem}fieldset{margin:1rem 0}
li{list-style:none;margin:.5rem 0}button{padding:.5rem 1rem;font-size:1rem;margin-right:.5rem}
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

export interface SignInPage {
  requestId: string;
  clientName: string;
  username?: string;
  error?: ScopeDescription;
}

export function renderSignIn(p: SignInPage): string {
  return page('Connexion / Sign in', `<h1>Connexion <span class="en">/ Sign in</span></h1>
<p>L’application <strong>${escapeHtml(p.clientName)}</strong> demande l’accès à votre espace santé.<br>
<span class="en">The application <strong>${escapeHtml(p.clientName)}</strong> asks to access your health space.</span></p>
${p.error ? `<p class="error" role="alert">${escapeHtml(p.error.fr)}<br><span class="en">${escapeHtml(p.error.en)}</span></p>` : ''}
<form method="post" action="/auth/authorize/sign-in">
<input type="hidden" name="request_id" value="${escapeHtml(p.requestId)}">
<label for="username">Identifiant <span class="en">/ Username</span></label>
<input type="text" id="username" name="username" autocomplete="username" required value="${escapeHtml(p.username ?? '')}">
<label for="password">Mot de passe <span class="en">/ Password</span></label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<p><button type="submit">Se connecter <span class="en">/ Sign in</span></button></p>
</form>`);
}

export interface ConsentPage {
  requestId: string;
  clientName: string;
  userName: string;
  scopes: Array<{ scope: string; description: ScopeDescription }>;
  patients: Array<{ id: string; label: string }>;
}

export function renderConsent(p: ConsentPage): string {
  const scopes = p.scopes.map((s, i) => `<li><input type="checkbox" id="scope-${i}" name="scope" value="${escapeHtml(s.scope)}" checked>
<label for="scope-${i}" style="display:inline">${escapeHtml(s.description.fr)} <span class="en">/ ${escapeHtml(s.description.en)}</span> <code>${escapeHtml(s.scope)}</code></label></li>`).join('\n');
  const patients = p.patients.length > 1
    ? `<fieldset><legend>Pour quel patient ? <span class="en">/ For which patient?</span></legend>
${p.patients.map((pt, i) => `<li><input type="radio" id="patient-${i}" name="patient" value="${escapeHtml(pt.id)}"${i === 0 ? ' checked' : ''}>
<label for="patient-${i}" style="display:inline">${escapeHtml(pt.label)}</label></li>`).join('\n')}
</fieldset>`
    : '';
  return page('Autorisation / Consent', `<h1>Autorisation <span class="en">/ Consent</span></h1>
<p>Connecté(e) en tant que <strong>${escapeHtml(p.userName)}</strong>. <span class="en">Signed in as <strong>${escapeHtml(p.userName)}</strong>.</span></p>
<p>L’application <strong>${escapeHtml(p.clientName)}</strong> demande à pouvoir :<br>
<span class="en">The application <strong>${escapeHtml(p.clientName)}</strong> asks to be able to:</span></p>
<form method="post" action="/auth/authorize/consent">
<input type="hidden" name="request_id" value="${escapeHtml(p.requestId)}">
${patients}
<ul>
${scopes}
</ul>
<p>Décochez ce que vous refusez. <span class="en">Untick what you refuse.</span></p>
<p><button type="submit" name="decision" value="approve">Autoriser <span class="en">/ Allow</span></button>
<button type="submit" name="decision" value="deny">Refuser <span class="en">/ Deny</span></button></p>
</form>`);
}

export function renderError(message: ScopeDescription): string {
  return page('Erreur / Error', `<h1>Erreur <span class="en">/ Error</span></h1>
<p class="error" role="alert">${escapeHtml(message.fr)}<br><span class="en">${escapeHtml(message.en)}</span></p>`);
}

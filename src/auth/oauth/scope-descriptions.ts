import { parseResourceScope } from '../scopes.js';
import type { Interaction, SpecialScope } from '../scopes.js';

/** What a scope lets an app do, in the words shown on the consent page. */
export interface ScopeDescription {
  fr: string;
  en: string;
}

const SPECIAL: Record<SpecialScope, ScopeDescription> = {
  openid: { fr: 'Connaître votre identité de connexion', en: 'Know who you are signed in as' },
  fhirUser: { fr: 'Connaître votre fiche (patient, proche ou professionnel)', en: 'Know your own record (patient, relative or professional)' },
  launch: { fr: 'Être lancée depuis un autre logiciel', en: 'Be launched from another application' },
  'launch/patient': { fr: 'Savoir de quel patient il s’agit', en: 'Know which patient this is about' },
  offline_access: { fr: 'Garder l’accès quand vous n’êtes pas connecté(e), jusqu’à révocation', en: 'Keep access while you are away, until you revoke it' },
  online_access: { fr: 'Garder l’accès pendant votre session', en: 'Keep access during your session' },
};

const VERBS: Record<Interaction, ScopeDescription> = {
  c: { fr: 'créer', en: 'create' },
  r: { fr: 'lire', en: 'read' },
  u: { fr: 'modifier', en: 'update' },
  d: { fr: 'supprimer', en: 'delete' },
  s: { fr: 'rechercher', en: 'search' },
};

const WHOSE: Record<'patient' | 'user' | 'system', ScopeDescription> = {
  patient: { fr: 'du patient choisi', en: 'of the selected patient' },
  user: { fr: 'auxquelles vous avez accès', en: 'you have access to' },
  system: { fr: 'de tout le serveur', en: 'across the whole server' },
};

export function describeScope(scope: string): ScopeDescription {
  if (scope in SPECIAL) return SPECIAL[scope as SpecialScope];
  const parsed = parseResourceScope(scope);
  const order: Interaction[] = ['c', 'r', 'u', 'd', 's'];
  const verbs = order.filter((i) => parsed.interactions.has(i)).map((i) => VERBS[i]);
  const what = parsed.resourceType === '*' ? { fr: 'toutes les données', en: 'all data' } : { fr: `les données ${parsed.resourceType}`, en: `${parsed.resourceType} data` };
  const only = parsed.query?.length
    ? { fr: ` (seulement ${parsed.query.map(([n, v]) => `${n}=${v}`).join(', ')})`, en: ` (only ${parsed.query.map(([n, v]) => `${n}=${v}`).join(', ')})` }
    : { fr: '', en: '' };
  const list = (words: string[], and: string) => (words.length > 1 ? `${words.slice(0, -1).join(', ')} ${and} ${words.at(-1)}` : words[0] ?? '');
  const fr = `${list(verbs.map((v) => v.fr), 'et')} ${what.fr} ${WHOSE[parsed.context].fr}${only.fr}`;
  const en = `${list(verbs.map((v) => v.en), 'and')} ${what.en} ${WHOSE[parsed.context].en}${only.en}`;
  return { fr: fr.charAt(0).toUpperCase() + fr.slice(1), en: en.charAt(0).toUpperCase() + en.slice(1) };
}

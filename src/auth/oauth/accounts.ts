import { argon2id, argon2Verify } from 'hash-wasm';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseRelativeReference } from '../../fhir/references.js';
import type { KeyValueStore } from '../../store/engine.js';

/**
 * People who sign in on the authorization page: patients, legal
 * representatives (related-person) and professionals (practitioner). Kept in the
 * kv store (namespace `accounts`, keyed by the folded username) so every replica
 * sees them; passwords only as argon2id PHC strings.
 */
export interface Account {
  id: string;
  /** Sign-in name, as entered at creation (matching ignores case). */
  username: string;
  kind: 'patient' | 'related-person' | 'practitioner' | 'admin';
  /** The user's own FHIR resource: 'Patient/1', 'RelatedPerson/7', 'Practitioner/3'. */
  fhirUser?: string;
  /**
   * Patient ids (no prefix) whose space this account may open: a patient's own
   * id, or the minors a legal representative manages.
   */
  patients: string[];
  displayName?: string;
  passwordHash: string;
  createdAt: string;
}

/**
 * A new account, with its password, or with the argon2id PHC string of one
 * (accounts moved from another system keep their passwords without anyone
 * knowing them; the hash keeps its own parameters, which verification reads).
 */
export type NewAccount = NewAccountFields & ({ password: string; passwordHash?: undefined } | { passwordHash: string; password?: undefined });

interface NewAccountFields {
  username: string;
  kind: Account['kind'];
  fhirUser?: string;
  patients?: string[];
  displayName?: string;
}

const NS = 'accounts';
/** What a person may sign in as: SMART's fhirUser names one of these (scopes.html#fhiruser). */
const FHIR_USER_TYPES: ReadonlySet<string> = new Set(['Patient', 'RelatedPerson', 'Practitioner', 'PractitionerRole']);
/** An argon2id hash as hash-wasm writes and verifies it (salt and hash in unpadded base64). */
const PHC_ARGON2ID = /^\$argon2id\$v=19\$m=\d{1,7},t=\d{1,3},p=\d{1,2}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}$/;
/** OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane). */
const ARGON2 = { parallelism: 1, iterations: 2, memorySize: 19456, hashLength: 32 } as const;

export function foldUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

export async function hashPassword(password: string): Promise<string> {
  return argon2id({ ...ARGON2, password: password.normalize('NFKC'), salt: randomBytes(16), outputType: 'encoded' });
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await argon2Verify({ password: password.normalize('NFKC'), hash });
  } catch {
    return false;
  }
}

export class AccountStore {
  /** Verified against when the username is unknown, so both cases cost the same. */
  private decoy: Promise<string> | undefined;

  constructor(private readonly kv: KeyValueStore) {}

  /** Creates an account; throws when the username is taken or the input is unusable. */
  async create(input: NewAccount): Promise<Account> {
    const key = foldUsername(input.username);
    if (!/^[^\s]{3,100}$/u.test(key)) throw new Error('A username is 3 to 100 characters without spaces');
    if (input.password !== undefined && input.password.length < 12) throw new Error('A password has at least 12 characters');
    if (input.passwordHash !== undefined && !PHC_ARGON2ID.test(input.passwordHash)) throw new Error('passwordHash must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)');
    if (input.fhirUser !== undefined && !isFhirUserReference(input.fhirUser)) {
      throw new Error('fhirUser must be a relative reference to Patient, RelatedPerson, Practitioner or PractitionerRole');
    }
    const patients = input.patients ?? (input.kind === 'patient' && input.fhirUser?.startsWith('Patient/') ? [input.fhirUser.slice(8)] : []);
    const account: Account = {
      id: randomUUID(),
      username: input.username.trim(),
      kind: input.kind,
      patients,
      passwordHash: input.passwordHash ?? (await hashPassword(input.password)),
      createdAt: new Date().toISOString(),
      ...(input.fhirUser ? { fhirUser: input.fhirUser } : {}),
      ...(input.displayName ? { displayName: input.displayName } : {}),
    };
    if (!(await this.kv.putIfAbsent(NS, key, account))) throw new Error(`The username ${account.username} is taken`);
    return account;
  }

  async findByUsername(username: string): Promise<Account | undefined> {
    return this.kv.get<Account>(NS, foldUsername(username));
  }

  /** The account when the password matches, else undefined (same cost for an unknown username). */
  async checkPassword(username: string, password: string): Promise<Account | undefined> {
    const account = await this.findByUsername(username);
    if (!account) {
      this.decoy ??= hashPassword(randomUUID());
      await verifyPassword(password, await this.decoy);
      return undefined;
    }
    return (await verifyPassword(password, account.passwordHash)) ? account : undefined;
  }
}

function isFhirUserReference(text: string): boolean {
  const named = parseRelativeReference(text);
  return named !== undefined && FHIR_USER_TYPES.has(named.type);
}

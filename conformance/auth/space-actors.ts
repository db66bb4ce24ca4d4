import { readFile } from 'node:fs/promises';

/**
 * The people the `space` suite acts as. The kit cannot create accounts on an
 * arbitrary server, so the operator gives their tokens; each check that needs
 * one it was not given is skipped, naming the missing option.
 */
export interface SpaceActors {
  /** The holder's Patient id (the space under test). */
  patientId?: string;
  /** A user token of the holder, for that patient. */
  patientToken?: string;
  /** A user token of a professional who is not the holder's regular doctor. */
  professionalToken?: string;
  /** That professional's Practitioner reference (`Practitioner/<id>`), named in the Consents the kit writes. */
  professionalRef?: string;
  /** A user token of the holder's regular doctor (Patient.generalPractitioner). */
  doctorToken?: string;
  /** A minor's Patient id, for the legal-representative rule. */
  minorId?: string;
  /** A user token of a legal representative of that minor, acting for the minor. */
  representativeToken?: string;
}

const FIELDS: readonly (keyof SpaceActors)[] = ['patientId', 'patientToken', 'professionalToken', 'professionalRef', 'doctorToken', 'minorId', 'representativeToken'];

/** Reads `--space-actors FILE`: a JSON object with the fields of SpaceActors (all optional strings). */
export async function loadSpaceActorsFile(file: string): Promise<SpaceActors> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} is not a JSON object`);
  const out: SpaceActors = {};
  for (const f of FIELDS) {
    const v = parsed[f];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !v) throw new Error(`${file}: ${f} must be a non-empty string`);
    out[f] = v;
  }
  return out;
}

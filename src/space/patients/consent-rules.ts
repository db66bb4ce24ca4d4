import type { Consent, ConsentProvision } from '@medplum/fhirtypes';
import { UnprocessableError } from '../../errors.js';
import { localKey } from '../../access/patient-facts.js';

/**
 * A patient's block is a deny provision naming a professional
 * (access/patient-facts.ts). The policy reads an actor as a resource of this
 * server (`Practitioner/1`, or under its base); one named by another server's
 * URL names no one here, so such a deny would block nothing while the patient
 * believes it does. It is refused (422) for the writer to name the
 * professional as this server knows them. Permits naming another server are
 * harmless (they grant nothing) and left alone.
 */
export function checkConsentWrite(next: Consent | undefined, fhirBase: string): void {
  if (!next) return;
  const walk = (provision: ConsentProvision | undefined, inherited: string | undefined, path: string): void => {
    if (!provision || typeof provision !== 'object') return;
    const type = provision.type ?? inherited;
    if (type === 'deny') {
      (Array.isArray(provision.actor) ? provision.actor : []).forEach((actor, i) => {
        const reference = actor?.reference?.reference;
        if (typeof reference === 'string' && !reference.startsWith('#') && !localKey(reference, fhirBase)) {
          throw new UnprocessableError('FHIR_ERR_CONSENT_ACTOR', `A deny provision names ${reference.slice(0, 120)}, which is not a resource of this server: it would block no one here. Name the professional as this server knows them (Practitioner/<id>)`,
            { expression: [`${path}.actor[${i}].reference`] });
        }
      });
    }
    (Array.isArray(provision.provision) ? provision.provision : []).forEach((nested, i) => walk(nested, type === 'permit' ? 'deny' : 'permit', `${path}.provision[${i}]`));
  };
  walk(next.provision, undefined, 'Consent.provision');
}

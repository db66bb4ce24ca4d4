import type { Bundle } from '@medplum/fhirtypes';
import { UnprocessableError } from '../../errors.js';
import type { StoreEngine } from '../../store/engine.js';
import { checkProvideDocumentBundle, isProvideDocumentBundle, placeBinaries } from './provide-bundle.js';
import { addSupersedeEntries } from './replacements.js';

/**
 * What `POST [base]` does with a Bundle before the generic processor: an ITI-65
 * Provide Document Bundle is checked whole (422 naming every problem, nothing
 * stored) and its document Binaries get their DocumentReference as
 * securityContext; every transaction gets the `superseded` updates of the
 * documents it replaces. `added` entries were appended at the end of the
 * Bundle; their answers are dropped from the response.
 */
export async function prepareProvideBundle(body: unknown, engine: StoreEngine, fhirBase: string): Promise<{ body: unknown; added: number }> {
  if (isProvideDocumentBundle(body)) {
    const issues = checkProvideDocumentBundle(body, fhirBase);
    if (issues.length) throw new UnprocessableError('FHIR_ERR_MHD_PROVIDE_BUNDLE', issues[0]!.diagnostics ?? 'The Provide Document Bundle is not valid', { issues });
    placeBinaries(body);
  }
  if (!body || typeof body !== 'object' || (body as Bundle).resourceType !== 'Bundle' || (body as Bundle).type !== 'transaction') return { body, added: 0 };
  const { bundle, added } = await addSupersedeEntries(body as Bundle, engine, fhirBase);
  return { body: bundle, added };
}

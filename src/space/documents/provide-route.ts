import type { FastifyRequest } from 'fastify';
import type { Bundle, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { ERROR_CODE_SYSTEM, ForbiddenError, UnprocessableError } from '../../errors.js';
import type { FhirErrorCode } from '../../errors.js';
import { authorize, isReadable } from '../../access/guard.js';
import type { StoreEngine, VersionRecord } from '../../store/engine.js';
import { checkProvideDocumentBundle, isProvideBatch, isProvideDocumentBundle, placeBinaries } from './provide-bundle.js';
import { addSupersedeEntries } from './replacements.js';
import type { ReplacedDocumentPolicy } from './replacements.js';

/**
 * What `POST [base]` does with a Bundle before the generic processor: an ITI-65
 * Provide Document Bundle is checked whole (422 naming every problem, nothing
 * stored) and its document Binaries get their DocumentReference as
 * securityContext; a batch meant as one is refused (ITI-65 is a transaction:
 * a batch would store the documents whose List or Binary failed, their
 * attachment urls naming nothing); every transaction gets the `superseded`
 * updates of the documents it replaces. `added` entries were appended at the end of the
 * Bundle; their answers are dropped from the response. `request` (the
 * caller) lets the policy judge the replaced documents before their state is
 * told (replacedDocumentPolicy); routes/bundle.ts must pass it.
 */
export async function prepareProvideBundle(body: unknown, engine: StoreEngine, fhirBase: string, request?: FastifyRequest): Promise<{ body: unknown; added: number }> {
  if (isProvideBatch(body)) {
    throw new UnprocessableError('FHIR_ERR_MHD_PROVIDE_BATCH',
      'Bundle.type: ITI-65 is a transaction: a Provide Document Bundle (one that creates a SubmissionSet List, or declares an IHE.MHD ProvideBundle profile) is processed whole or not at all, never as a batch',
      { expression: ['Bundle.type'] });
  }
  if (isProvideDocumentBundle(body)) {
    const issues = checkProvideDocumentBundle(body, fhirBase);
    if (issues.length) {
      // Each issue tells its own code; the answer's is the first one's.
      const code = codeOf(issues[0]!) ?? 'FHIR_ERR_MHD_PROVIDE_BUNDLE';
      throw new UnprocessableError(code, issues[0]!.diagnostics ?? 'The Provide Document Bundle is not valid', {
        issues: issues.map((i) => (i.details ? i : { ...i, details: { coding: [{ system: ERROR_CODE_SYSTEM, code: 'FHIR_ERR_MHD_PROVIDE_BUNDLE' }] } })),
      });
    }
    placeBinaries(body, fhirBase);
  }
  if (!body || typeof body !== 'object' || (body as Bundle).resourceType !== 'Bundle' || (body as Bundle).type !== 'transaction') return { body, added: 0 };
  const { bundle, added } = await addSupersedeEntries(body as Bundle, engine, fhirBase, request && replacedDocumentPolicy(request));
  return { body: bundle, added };
}

/** The error code an issue carries in its details (checkProvideDocumentBundle). */
function codeOf(issue: OperationOutcomeIssue): FhirErrorCode | undefined {
  const code = issue.details?.coding?.find((c) => c.system === ERROR_CODE_SYSTEM)?.code;
  return code?.startsWith('FHIR_ERR_') ? (code as FhirErrorCode) : undefined;
}

/**
 * Who may be told about a document their submission replaces: whoever may
 * read it, or may make the change the replacement makes (PATCH its status;
 * a Document Source may write without reading). Asked without auditing an
 * allowed access (the supersede entry's own write is audited); a refusal of
 * both is audited once, on the document, as any refusal is.
 */
export function replacedDocumentPolicy(request: FastifyRequest): ReplacedDocumentPolicy {
  return async (replaced: VersionRecord) => {
    if (await isReadable(request, replaced)) return true;
    try {
      await authorize(request, 'u', 'patch', { resourceType: replaced.type, id: replaced.id, record: replaced }, { precheck: true });
      return true;
    } catch (err) {
      if (err instanceof ForbiddenError) return false;
      throw err;
    }
  };
}

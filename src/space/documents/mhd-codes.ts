/** Canonical URLs and codes of IHE MHD 4.2 and the French document codes (DOMAIN.md "Documents", "Codes"). */

export const MHD_LIST_TYPES = 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes';
export const MHD_SOURCE_ID = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId';
export const MHD_DOCUMENT_RECIPIENT = 'https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient';
export const MHD_DOCUMENT_RESPONDER = 'https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder';

/** Provide Document Bundle profiles (Comprehensive, Minimal, UnContained): IHE.MHD.*ProvideBundle. */
export const PROVIDE_BUNDLE_PROFILE = /^https:\/\/profiles\.ihe\.net\/ITI\/MHD\/StructureDefinition\/IHE\.MHD\.[A-Za-z.]*ProvideBundle(\|.*)?$/;

/** Document class (TRE_A03), carried in DocumentReference.category as MHD maps XDS classCode. */
export const DOCUMENT_CLASS_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument';
/** Class 90: documents added by the patient. */
export const PATIENT_DOCUMENT_CLASS = '90';
/** Types of documents the patient adds (TRE_A05): DOCPAT01..DOCPAT09, and advance directives EXPPAT_3. */
export const PATIENT_DOCUMENT_TYPE_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire';
export const PATIENT_DOCUMENT_TYPE = /^(DOCPAT0[1-9]|EXPPAT_3)$/;

/**
 * The PDSm `isArchived` extension (PDSm_isArchived, boolean). The IG names the
 * StructureDefinition PDSm_isArchived; the lower-case id form is accepted too,
 * because both circulate in integrators' payloads.
 */
export const IS_ARCHIVED_EXTENSIONS: ReadonlySet<string> = new Set([
  'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/PDSm_isArchived',
  'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-isArchived',
]);

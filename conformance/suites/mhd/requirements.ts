import type { Requirement } from '../../runner/types.js';

const SPEC = 'IHE ITI MHD 4.2';
const MHD = 'https://profiles.ihe.net/ITI/MHD/4.2.2';

function req(id: string, section: string, page: string, text: string): Requirement {
  return { id, spec: SPEC, section, url: `${MHD}/${page}`, text };
}

export const MHD_REQ = {
  iti65: req('mhd-iti65', 'ITI-65 Provide Document Bundle', 'ITI-65.html#2365412-expected-actions',
    'The Document Recipient processes the transaction Bundle (SubmissionSet List, DocumentReference, Binary) atomically and answers 200 with a transaction-response Bundle: one entry per request entry, in order, each 201 with a location.'),
  iti65Rejected: req('mhd-iti65-reject', 'ITI-65 Provide Document Bundle: errors', 'ITI-65.html#2365414-expected-actions',
    'A Provide Document Bundle that cannot be accepted in full is refused with a 4xx and an OperationOutcome, and nothing of it is stored.'),
  iti65Hash: req('mhd-iti65-hash', 'ITI-65: attachment hash and size', 'ITI-65.html#2365412-expected-actions',
    'attachment.hash (SHA-1 of the document, base64) and attachment.size describe the document bytes; a recipient that checks them refuses a submission whose hash or size does not match.'),
  iti66: req('mhd-iti66', 'ITI-66 Find Document Lists', 'ITI-66.html',
    'GET [base]/List?patient=...&code=submissionset&status=current returns the SubmissionSet Lists of the patient.'),
  iti67: req('mhd-iti67', 'ITI-67 Find Document References', 'ITI-67.html',
    'GET [base]/DocumentReference?patient=...&status=current (or patient.identifier=system|value) returns the patient\'s DocumentReferences matching the query.'),
  iti68: req('mhd-iti68', 'ITI-68 Retrieve Document', 'ITI-68.html',
    'GET on DocumentReference.content.attachment.url returns the document bytes exactly as submitted, 200, with the document\'s Content-Type; 404 for an unknown document.'),
} satisfies Record<string, Requirement>;

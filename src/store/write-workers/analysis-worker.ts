/**
 * Entry of a write worker thread (write-workers.ts): validates and indexes
 * the resources the main thread sends, with the same code and configuration
 * it would use itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ValidationError } from '../../errors.js';
import { fhirPathLibrary } from '../../fhir/fhirpath.js';
import { createValidator } from '../../fhir/validation/validate.js';
import { indexText, ValueNumbering } from '../index-text.js';
import { analyseVersion, validateWith } from '../version-analysis.js';
import type { AnalysisBatch, AnalysisJob, AnalysisReply, WorkerMessage, WorkerSetup } from './messages.js';

const port = parentPort!;
const { requiredProfiles, fhirBase } = workerData as WorkerSetup;
const validate = validateWith(createValidator({ requiredProfiles }));
const numbering = new ValueNumbering();

port.on('message', (batch: AnalysisBatch) => {
  port.postMessage(batch.map(analyse) satisfies WorkerMessage);
});
// fhirpath.js (every analysis needs it, for the index and the invariants) loads before the worker
// says it is ready, so no job waits for it: until then the main thread analyses writes itself.
fhirPathLibrary();
port.postMessage({ ready: true } satisfies WorkerMessage);

function analyse({ n, json, mode }: AnalysisJob): AnalysisReply {
  try {
    const { warnings, idx, srt, comp } = analyseVersion(JSON.parse(json), mode, validate, fhirBase);
    const { text, parts } = indexText({ idx, srt, comp }, numbering);
    return { n, ok: parts ? { warnings, index: text, parts } : { warnings, index: text } };
  } catch (err) {
    return err instanceof ValidationError
      ? { n, invalid: { issues: err.issues, status: err.statusCode === 400 ? 400 : 422 } }
      : { n, failed: err instanceof Error ? err.message : String(err) };
  }
}

import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { IndexParts } from '../index-text.js';
import type { AnalysisMode, VersionAnalysis } from '../version-analysis.js';

/** What a write worker is started with (workerData). */
export interface WorkerSetup {
  requiredProfiles: Record<string, string[]>;
  /** The server's FHIR base: absolute references to it are indexed as relative ones (see analyseVersion). */
  fhirBase: string | undefined;
}

/** One resource to analyse: its stored JSON text (cheaper to pass between threads than the object). */
export interface AnalysisJob {
  n: number;
  json: string;
  mode: AnalysisMode;
}

/**
 * Messages carry batches: every job of one turn of the main thread's event
 * loop goes in one message, and the answers come back together, because each
 * message costs a wake-up of the other thread (a system call), which is more
 * than the copying.
 */
export type AnalysisBatch = AnalysisJob[];

export type WorkerMessage = { ready: true } | AnalysisReply[];

export type AnalysisReply =
  /**
   * The index travels as JSON text (`{"idx":..,"srt":..,"comp":..}`) with
   * where its parts lie and the numbers of those the worker met before
   * (IndexText): the main thread takes those from the values it already
   * holds (SharedIndexValues) and parses only the others, rather than
   * rebuilding a structured clone; the journal reuses the text
   * (WriteOp.indexJson).
   */
  | { n: number; ok: { warnings: VersionAnalysis['warnings']; index: string; parts?: IndexParts } }
  /** The resource is not valid: the main thread throws the ValidationError it would have thrown itself. */
  | { n: number; invalid: { issues: OperationOutcomeIssue[]; status: 400 | 422 } }
  /** Anything else went wrong in the worker: the main thread analyses the resource itself. */
  | { n: number; failed: string };

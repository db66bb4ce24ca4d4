import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ValidationError } from '../../errors.js';
import { readIndexText, SharedIndexValues } from '../index-text.js';
import type { AnalysisMode, AnalysisOffload, VersionAnalysis } from '../version-analysis.js';
import type { AnalysisBatch, AnalysisJob, AnalysisReply, WorkerMessage, WorkerSetup } from './messages.js';

export interface WriteWorkersOptions extends WorkerSetup {
  /** Worker threads to start (at least 1). */
  size: number;
  /** Analyses a job in this thread: when a worker failed on it, or died with it pending. */
  analyseHere: (json: string, mode: AnalysisMode) => VersionAnalysis;
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
}

interface PendingJob extends AnalysisJob {
  resolve: (analysis: VersionAnalysis) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  pending: Map<number, PendingJob>;
  /** Jobs not posted yet: those of this turn of the event loop, or all that came while the worker had its fill of batches. */
  outbox: AnalysisBatch;
  /** Batches with the worker, not answered yet (at most BATCHES_IN_FLIGHT). */
  inFlight: number;
  /** The index values this worker numbered (a new worker numbers from scratch). */
  shared: SharedIndexValues;
}

/**
 * Batches posted to a worker before its first answer. One at a time made a
 * job that came just after a batch left wait for that whole batch, then for
 * its own: with two, the next batch is queued at the worker while it works,
 * and a create's wait for its analysis fell from 1.4-1.8 to 1.1-1.3 ms under
 * 16 concurrent creates. Replying job by job instead cost more main-thread
 * time than it saved.
 */
const BATCHES_IN_FLIGHT = 2;

/** A worker that dies this many times is not started again: writes stay in the main thread. */
const MAX_RESTARTS = 3;

const SOURCE_EXTENSION = path.extname(fileURLToPath(import.meta.url));
const WORKER_FILE = new URL(`./analysis-worker${SOURCE_EXTENSION}`, import.meta.url);
/**
 * The built server runs analysis-worker.js. The tests run the TypeScript
 * sources through tsx, whose loader a worker thread does not inherit on
 * Node 20: there the worker registers it first.
 */
const WORKER_ENTRY = SOURCE_EXTENSION === '.ts'
  ? new URL(`data:text/javascript,${encodeURIComponent(`const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(WORKER_FILE.href)});`)}`)
  : WORKER_FILE;

/**
 * Threads that validate and index new resources for the repository, so that
 * the main thread (HTTP, access policy, store) spends its time on requests:
 * validation and index extraction are most of a create's CPU. Each job is the
 * stored JSON text; the answer is what analyseVersion gives in process, or
 * the same ValidationError.
 *
 * The main thread never depends on them: before a worker is ready, after it
 * died, or if it failed on a job, the repository analyses in process.
 */
export class WriteWorkers implements AnalysisOffload {
  private readonly slots: Slot[] = [];
  private lastJob = 0;
  private closing = false;
  private restarts = 0;
  private readonly started: Array<Promise<void>> = [];

  constructor(private readonly options: WriteWorkersOptions) {
    for (let i = 0; i < options.size; i++) this.started.push(this.spawn(i));
  }

  /** Resolves once every worker can take jobs (or gave up starting). */
  async ready(): Promise<void> {
    await Promise.all(this.started);
  }

  /** How many workers take jobs now. */
  get readyCount(): number {
    return this.slots.filter((s) => s?.ready).length;
  }

  analyse(json: string, mode: AnalysisMode): Promise<VersionAnalysis> | undefined {
    let slot: Slot | undefined;
    for (const s of this.slots) if (s?.ready && (!slot || s.pending.size < slot.pending.size)) slot = s;
    if (!slot) return undefined;
    const n = ++this.lastJob;
    const target = slot;
    return new Promise<VersionAnalysis>((resolve, reject) => {
      target.pending.set(n, { n, json, mode, resolve, reject });
      if (target.outbox.push({ n, json, mode }) === 1) setImmediate(() => this.flush(target));
    });
  }

  /**
   * Posts the outbox, unless the worker has its fill of batches: then the
   * jobs wait for an answer and go together. Each message wakes an idle
   * thread, which costs more than analysing a job; a bounded number of
   * batches in flight makes batches grow with the load, and adds no wait
   * when the worker is idle.
   */
  private flush(slot: Slot): void {
    // A worker that died meanwhile had its pending jobs analysed here already.
    if (!slot.ready || slot.inFlight >= BATCHES_IN_FLIGHT || slot.outbox.length === 0) return;
    const batch = slot.outbox;
    slot.outbox = [];
    slot.inFlight++;
    slot.worker.ref();
    slot.worker.postMessage(batch satisfies AnalysisBatch);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  private spawn(index: number): Promise<void> {
    const { requiredProfiles, fhirBase } = this.options;
    // Referenced while it starts or has jobs: an idle worker must not keep the process alive.
    const worker = new Worker(WORKER_ENTRY, { workerData: { requiredProfiles, fhirBase } satisfies WorkerSetup });
    const slot: Slot = { worker, ready: false, pending: new Map(), outbox: [], inFlight: 0, shared: new SharedIndexValues() };
    this.slots[index] = slot;
    return new Promise<void>((started) => {
      worker.on('message', (message: WorkerMessage) => {
        if (!Array.isArray(message)) {
          slot.ready = true;
          this.unref(worker);
          // Until this line, new resources are analysed in the main thread.
          this.options.log.info({ worker: index }, 'write worker ready');
          started();
          return;
        }
        slot.inFlight--;
        for (const reply of message) this.settle(slot, reply);
        if (slot.pending.size === 0) this.unref(worker);
        else this.flush(slot);
      });
      worker.on('error', (err) => this.options.log.error({ err }, 'write worker: crashed'));
      worker.on('exit', (code) => {
        slot.ready = false;
        slot.inFlight = 0;
        slot.outbox = [];
        for (const job of slot.pending.values()) this.analyseHere(job);
        slot.pending.clear();
        started();
        if (this.closing) return;
        if (++this.restarts > MAX_RESTARTS) {
          this.options.log.error({ code }, 'write worker: stopped too often, resources are now analysed in the main thread');
          return;
        }
        this.options.log.warn({ code }, 'write worker: stopped, starting another');
        void this.spawn(index);
      });
    });
  }

  /**
   * An idle worker must not keep the process alive, but a closing one must:
   * terminate() refs the worker until its 'exit', which resolves close(). An
   * answer (or the ready message) arriving between the two would otherwise
   * unref it, and a process with nothing else to do would end with close()
   * pending (a test's teardown left unfinished).
   */
  private unref(worker: Worker): void {
    if (!this.closing) worker.unref();
  }

  private settle(slot: Slot, reply: AnalysisReply): void {
    const job = slot.pending.get(reply.n);
    if (!job) return;
    slot.pending.delete(reply.n);
    if ('ok' in reply) {
      const { idx, srt, comp } = readIndexText({ text: reply.ok.index, parts: reply.ok.parts }, slot.shared);
      job.resolve({ warnings: reply.ok.warnings, idx, srt, comp, indexJson: reply.ok.index.slice(1, -1) });
    }
    else if ('invalid' in reply) job.reject(new ValidationError(reply.invalid.issues, reply.invalid.status));
    else {
      // Not the client's fault, perhaps not even the resource's: answer as if there were no worker.
      this.options.log.warn({ failure: reply.failed }, 'write worker: analysis failed, done in the main thread');
      this.analyseHere(job);
    }
  }

  private analyseHere(job: PendingJob): void {
    try {
      job.resolve(this.options.analyseHere(job.json, job.mode));
    } catch (err) {
      job.reject(err);
    }
  }
}

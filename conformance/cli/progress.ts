import cliProgress from 'cli-progress';
import type { ProgressListener } from '../runner/run-suites.js';
import type { CheckResult } from '../runner/types.js';

const MARK: Record<CheckResult['outcome'], string> = { passed: 'PASS', failed: 'FAIL', errored: 'ERROR', skipped: 'SKIP' };

/** A progress bar on a terminal, one plain line per check otherwise (CI logs). */
export function createProgress(stream: NodeJS.WriteStream): ProgressListener {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

export function lineProgress(stream: NodeJS.WritableStream): ProgressListener {
  let done = 0;
  let total = 0;
  return {
    start(n, target) {
      total = n;
      stream.write(`carnet-conformance: ${n} checks against ${target.base}\n`);
    },
    checkDone(r) {
      done += 1;
      const detail = r.outcome !== 'passed' ? r.message : r.notChecked?.length ? `not checked: ${r.notChecked.join('; ')}` : undefined;
      stream.write(`[${done}/${total}] ${MARK[r.outcome]} ${r.id}${detail ? ` — ${detail}` : ''}\n`);
    },
    end() {},
  };
}

function barProgress(stream: NodeJS.WriteStream): ProgressListener {
  const bar = new cliProgress.SingleBar(
    { stream, format: '{bar} {value}/{total} | {passed} passed {failed} failed {errored} errored {skipped} skipped | {check}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const counts = { passed: 0, failed: 0, errored: 0, skipped: 0 };
  return {
    start(n) {
      bar.start(n, 0, { ...counts, check: '' });
    },
    checkDone(r) {
      counts[r.outcome] += 1;
      bar.increment(1, { ...counts, check: r.id });
    },
    end() {
      bar.stop();
    },
  };
}

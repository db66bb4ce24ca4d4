/** An engine log that keeps its warnings, for tests that check what the operator is told. */
export function recordingLog(): { warnings: string[]; log: { warn: (msg: string) => void; info: () => void } } {
  const warnings: string[] = [];
  return { warnings, log: { warn: (m: string) => void warnings.push(m), info: () => undefined } };
}

/**
 * Required bindings (terminologies.html#required) on a Coding or a CodeableConcept, for the base
 * definitions (element-rules.ts) and the profiles (profile-check.ts) alike: the concept SHALL come
 * from the value set, so some coding must carry a system and a code the value set holds. Text
 * alone, or a code without its system, is nothing the value set can vouch for (the HL7
 * validator's "No code provided, and a code must be provided from the value set").
 */

/**
 * Why none of `codings` is a code of `vs` (system -> codes), undefined when one is.
 * `valueSet` names the value set in the answer ("the required value set <url>").
 */
export function codedBindingProblem(vs: Map<string, Set<string>>, codings: unknown, valueSet: string): string | undefined {
  const list = Array.isArray(codings) ? (codings as unknown[]) : [];
  const coded: Record<string, unknown>[] = [];
  for (const c of list) {
    if (c === null || typeof c !== 'object') continue;
    const coding = c as Record<string, unknown>;
    if (typeof coding.code === 'string' && typeof coding.system === 'string' && vs.get(coding.system)?.has(coding.code)) return undefined;
    if (coding.code !== undefined) coded.push(coding);
  }
  if (!coded.length) return `no code from ${valueSet} (a system and a code are needed; text alone does not do)`;
  const unsystematic = coded.filter((c) => typeof c.system !== 'string').map((c) => JSON.stringify(c.code));
  return `none of ${coded.map(describeCoding).join(', ')} is in ${valueSet}` +
    (unsystematic.length ? ` (a code needs its system: ${unsystematic.join(', ')} ${unsystematic.length === 1 ? 'has' : 'have'} none)` : '');
}

function describeCoding(c: Record<string, unknown>): string {
  return c.system ? `${String(c.system)}|${String(c.code)}` : JSON.stringify(c.code);
}

/** Turns a JSON pointer into the FHIRPath location OperationOutcome.issue.expression expects: `/name/0/given/1` -> `Patient.name[0].given[1]`. */
export function pointerToExpression(base: string, pointer: string): string {
  if (!pointer) return base;
  let out = base;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}

export function childExpression(base: string, name: string, index?: number): string {
  return index === undefined ? `${base}.${name}` : `${base}.${name}[${index}]`;
}

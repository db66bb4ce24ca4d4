/**
 * Parses REQUIRED_PROFILES: `Type=url[,url...][;Type=url...]`, e.g.
 * `DocumentReference=https://carnet.dev/fhir/StructureDefinition/carnet-document;Observation=https://carnet.dev/fhir/StructureDefinition/carnet-vital-sign`.
 * Throws on a malformed value so that start-up fails loudly rather than validate less.
 */
export function parseRequiredProfiles(value: string | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!value?.trim()) return out;
  for (const part of value.split(';').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Z][A-Za-z]+)\s*=\s*(\S.*)$/.exec(part);
    if (!m) throw new Error(`REQUIRED_PROFILES: expected Type=url[,url], got '${part}'`);
    const urls = m[2].split(',').map((u) => u.trim()).filter(Boolean);
    if (!urls.length || urls.some((u) => !/^https?:\/\/\S+$/.test(u))) throw new Error(`REQUIRED_PROFILES: bad profile URL in '${part}'`);
    out[m[1]] = [...(out[m[1]] ?? []), ...urls];
  }
  return out;
}

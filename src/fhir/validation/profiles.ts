import type { CodeSystem, OperationOutcomeIssue, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandValueSet } from './build/value-set-expansion.js';
import { valueSetCodes } from './element-index.js';
import { readGeneratedJson } from './generated-files.js';
import { checkAgainstProfile } from './profile-check.js';

/** Where profiles come from: fhir-profiles/, the R4 vital-signs profiles, or whatever a caller adds. */
export interface ProfileRegistry {
  get(url: string): StructureDefinition | undefined;
  valueSet(url: string): Map<string, Set<string>> | null | undefined;
  urls(): string[];
}

type Conformance = StructureDefinition | ValueSet | CodeSystem;

/** Builds a registry from conformance resources (StructureDefinitions with snapshots, ValueSets, CodeSystems). */
export function createProfileRegistry(resources: Conformance[]): ProfileRegistry {
  const profiles = new Map<string, StructureDefinition>();
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const r of resources) {
    if (r.resourceType === 'StructureDefinition' && r.url) profiles.set(r.url, r);
    if (r.resourceType === 'ValueSet' && r.url) valueSets.set(r.url, r);
    if (r.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
  }
  const expanded = new Map<string, Map<string, Set<string>> | null>();
  return {
    get: (url) => profiles.get(url.split('|')[0]),
    urls: () => [...profiles.keys()],
    valueSet(url) {
      if (!valueSets.has(url)) return valueSetCodes(url);
      if (!expanded.has(url)) {
        const raw = expandValueSet(url, valueSets, codeSystems, new Set());
        expanded.set(url, raw ? new Map(Object.entries(raw).map(([s, c]) => [s, new Set(c)])) : null);
      }
      return expanded.get(url);
    },
  };
}

let builtIn: ProfileRegistry | undefined;

/** fhir-profiles/*.json of this health space plus the R4 vital-signs profiles; loaded on first use. */
export function builtInProfiles(): ProfileRegistry {
  if (builtIn) return builtIn;
  const resources: Conformance[] = readGeneratedJson<Conformance[]>('fhir-other-profiles.json');
  const dir = findProfilesDir();
  if (dir) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const r = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Conformance;
      if (r && typeof r === 'object') resources.push(r);
    }
  }
  return (builtIn = createProfileRegistry(resources));
}

export function findProfilesDir(): string | undefined {
  for (let d = path.dirname(fileURLToPath(import.meta.url)); ; d = path.dirname(d)) {
    const candidate = path.join(d, 'fhir-profiles');
    if (existsSync(candidate) && existsSync(path.join(d, 'package.json'))) return candidate;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Profiles named in meta.profile and those asked for; an unknown profile is a warning, not an error. */
export function checkProfiles(resource: Record<string, unknown>, base: string, requested: string[], registry?: ProfileRegistry): OperationOutcomeIssue[] {
  const meta = resource.meta as { profile?: unknown } | undefined;
  const declared = Array.isArray(meta?.profile) ? meta.profile.filter((p): p is string => typeof p === 'string') : [];
  const urls = [...new Set([...declared, ...requested])];
  if (!urls.length) return [];
  const issues: OperationOutcomeIssue[] = [];
  for (const url of urls) {
    const sd = registry?.get(url) ?? builtInProfiles().get(url);
    if (!sd) {
      issues.push({ severity: 'warning', code: 'not-supported', expression: [base],
        diagnostics: `Profile ${url} is unknown to this server; the resource was not checked against it` });
      continue;
    }
    if (sd.type !== resource.resourceType) {
      issues.push({ severity: 'error', code: 'invalid', expression: [base],
        diagnostics: `Profile ${url} constrains ${String(sd.type)}, not ${String(resource.resourceType)}` });
      continue;
    }
    const codes = (vs: string) => registry?.valueSet(vs) ?? builtInProfiles().valueSet(vs);
    issues.push(...checkAgainstProfile(resource, base, sd, codes));
  }
  return issues;
}

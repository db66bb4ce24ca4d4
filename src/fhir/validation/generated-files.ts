import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * src/generated (tests, through tsx) or dist/src/generated (built server, and
 * its bundle in dist/src/bundle): the nearest `generated` folder above this
 * module's file. Written by scripts/build-validators.ts.
 */
const generatedDir = findGeneratedDir(path.dirname(fileURLToPath(import.meta.url)));

function findGeneratedDir(from: string): string {
  for (let dir = from; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'generated', 'fhir-structure'))) return path.join(dir, 'generated');
  }
  // Not built yet: readGeneratedJson names the file to build.
  return path.resolve(from, '../../generated');
}
const load = createRequire(path.join(generatedDir, 'index.cjs'));

export function generatedPath(name: string): string {
  return path.join(generatedDir, name);
}

export function readGeneratedText(name: string): string {
  const file = generatedPath(name);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (scripts/build-validators.ts) first`);
  return readFileSync(file, 'utf8');
}

export function readGeneratedJson<T>(name: string): T {
  return JSON.parse(readGeneratedText(name)) as T;
}

/** Synchronous on purpose: validation is synchronous and each module is loaded once, on first use. */
export function requireGenerated<T>(name: string): T {
  return load('./' + name) as T;
}

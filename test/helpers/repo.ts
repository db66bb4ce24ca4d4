import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The tests run from their build (`npm test` compiles them with the rest into
 * dist/test, and runs them without tsx: loading tsx and compiling each file's
 * imports cost about 2 s per test file, a quarter of CI's time), or from their
 * sources through tsx (`npx tap --node-arg=--import=tsx test/...`). Whatever a
 * test starts in another process (the server, a script, a store engine under
 * a kill) runs the same way as the test itself.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const fromBuild = path.basename(path.resolve(here, '..', '..')) === 'dist';

/** The repository's root (where package.json, README.md and fhir-profiles/ are). */
export const repoRoot = path.resolve(here, '..', '..', ...(fromBuild ? ['..'] : []));

/** The file that runs `source` (a path from the repository's root, such as `src/main.ts`) in this test run. */
export function runnable(source: string): string {
  return fromBuild ? path.join(repoRoot, 'dist', source.replace(/\.ts$/, '.js')) : path.join(repoRoot, source);
}

/** `runnable(source)` as a URL, for an `import` in a script given to `node -e`. */
export function runnableUrl(source: string): string {
  return pathToFileURL(runnable(source)).href;
}

/** Node's arguments before a script or `-e`: the TypeScript loader, when the tests run from their sources. */
export const loaderArgs: readonly string[] = fromBuild ? [] : ['--import', 'tsx'];

/** Node's arguments that run `source` as a program. */
export function nodeArgsFor(source: string): string[] {
  return [...loaderArgs, runnable(source)];
}

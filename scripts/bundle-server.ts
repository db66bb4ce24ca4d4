/**
 * Build step: bundles the built server (dist/src/main.js) and its write worker,
 * with the packages they import, into dist/src/bundle/, which `npm start` and
 * the Docker image run. Loading ~180 of our modules and those of fastify, ajv,
 * jose and pino one file at a time was most of the start-up time; one file per
 * entry (plus the chunks they share) loads in about half of it.
 *
 * Left out of the bundle, loaded from node_modules at run time:
 * - mongodb, imported only when MONGODB_URL is set, with optional native
 *   add-ons that a bundle would have to guess about;
 * - what our modules load with createRequire (fhirpath.js, the precompiled
 *   validators in dist/src/generated, the R4 definitions' JSON), as before.
 *
 * The bundle sits below dist/src so that modules which find their files from
 * their own location (the generated validators, the package root) still find
 * them, and so that the write worker's entry sits next to the server's, where
 * write-workers.ts looks for it.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const started = performance.now();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = path.join(root, 'dist', 'src');
export const BUNDLE_DIR = path.join(built, 'bundle');

rmSync(BUNDLE_DIR, { recursive: true, force: true });
const result = await build({
  entryPoints: [path.join(built, 'main.js'), path.join(built, 'store', 'write-workers', 'analysis-worker.js')],
  outdir: BUNDLE_DIR,
  entryNames: '[name]',
  bundle: true,
  // Shared chunks, so that what the server imports lazily (the MongoDB engine)
  // stays out of start-up and no class exists twice.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // With code splitting, esbuild gives a dynamic import() of a CommonJS
  // package a namespace without its named exports: mingo, imported on the
  // first search, stays a package.
  external: ['mongodb', 'mingo', 'mingo/*'],
  // Not keepNames: it wraps every function the code creates, closures made
  // per request included, in a call that redefines its name (measured on
  // reads: twice the page faults and about 10 µs more CPU per request).
  // Nothing here depends on a function's name but the errors' `name`
  // (new.target.name), and esbuild renames only what collides: the bundle
  // test checks that no error class was renamed.
  keepNames: false,
  sourcemap: 'linked',
  // CommonJS packages inside an ES module bundle call require() for Node's own
  // modules: give every output file a real one.
  banner: { js: "import { createRequire as __carnetCreateRequire } from 'node:module'; const require = __carnetCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'linked',
  metafile: true,
});
const sizes = Object.entries(result.metafile.outputs)
  .filter(([file]) => file.endsWith('.js'))
  .map(([file, output]) => `${path.basename(file)} ${(output.bytes / 1024 / 1024).toFixed(1)} MB`);
console.log(`server bundled in ${path.relative(root, BUNDLE_DIR)}: ${sizes.join(', ')} (${Math.round(performance.now() - started)} ms)`);


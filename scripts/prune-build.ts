/**
 * Removes from dist/ what tsc built from sources that are gone. tsc never
 * deletes an output, and `npm test` runs every test built in dist/test: a
 * test file deleted or renamed would otherwise go on running from its old build.
 */
import { readdirSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';

const root = process.cwd();
const OUTPUTS = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;
let removed = 0;
for (const tree of ['src', 'test', 'scripts', 'conformance']) {
  const built = path.join(root, 'dist', tree);
  if (!existsSync(built)) continue;
  for (const entry of readdirSync(built, { recursive: true, withFileTypes: true })) {
    // The bundle (dist/src/bundle) is scripts/bundle-server.ts's output, not tsc's.
    if (!entry.isFile() || !OUTPUTS.test(entry.name) || entry.parentPath.includes(`${path.sep}bundle`)) continue;
    const relative = path.relative(path.join(root, 'dist'), path.join(entry.parentPath, entry.name));
    const stem = relative.replace(OUTPUTS, '');
    if (['.ts', '.mts', '.tsx', '.js'].some((ext) => existsSync(path.join(root, stem + ext)))) continue;
    rmSync(path.join(root, 'dist', relative));
    removed++;
  }
}
if (removed) console.log(`prune-build: removed ${removed} outputs of deleted sources from dist/`);

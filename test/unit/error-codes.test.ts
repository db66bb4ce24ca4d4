import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/repo.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'generated') return [];
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

t.test('the README lists exactly the error codes the server can send', async (t) => {
  const used = new Set<string>();
  for (const file of sourceFiles(path.join(repoRoot, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(FHIR_ERR_[A-Z0-9_]+)'/g)) used.add(m[1]);
  }
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = /<!-- error-codes:start -->([\s\S]*?)<!-- error-codes:end -->/.exec(readme)?.[1] ?? '';
  const listed = new Set([...section.matchAll(/`(FHIR_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]));
  t.same([...used].filter((c) => !listed.has(c)).sort(), [], 'every code used in src/ is documented');
  t.same([...listed].filter((c) => !used.has(c)).sort(), [], 'every documented code is used');
});

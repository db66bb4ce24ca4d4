import { execFile, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { createEmbeddedEngine } from '../../src/store/embedded/embedded-engine.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loaderArgs, runnableUrl } from '../helpers/repo.js';
import { tempDir } from '../helpers/tokens.js';

const quiet = { warn: () => undefined, info: () => undefined };
const engineModule = runnableUrl('src/store/embedded/embedded-engine.ts');

t.test('a second process on the same data directory is refused with a clear message', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  const engine = createEmbeddedEngine({ dataDir, log: quiet });
  await engine.open();
  t.teardown(() => engine.close());
  const script = `
    import { createEmbeddedEngine } from ${JSON.stringify(engineModule)};
    try { await createEmbeddedEngine({ dataDir: ${JSON.stringify(dataDir)} }).open(); console.log('opened'); }
    catch (err) { console.log(err.message); }
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [...loaderArgs, '--input-type=module', '-e', script]);
  t.equal(stdout.trim(), `data directory ${dataDir} is in use by process ${process.pid}`);
});

t.test('a second engine in the same process is refused too', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  const first = createEmbeddedEngine({ dataDir, log: quiet });
  await first.open();
  t.teardown(() => first.close());
  const second = createEmbeddedEngine({ dataDir, log: quiet });
  await t.rejects(second.open(), { message: `data directory ${dataDir} is in use by process ${process.pid}` });
  t.ok(await first.isReady(), 'the holder keeps working');
});

t.test('close releases the lock', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  const first = createEmbeddedEngine({ dataDir, log: quiet });
  await first.open();
  t.equal((await readFile(path.join(dataDir, 'LOCK'), 'utf8')).trim(), String(process.pid), 'LOCK names the holder');
  await first.close();
  await t.rejects(stat(path.join(dataDir, 'LOCK')), { code: 'ENOENT' });
  const second = createEmbeddedEngine({ dataDir, log: quiet });
  await second.open();
  t.teardown(() => second.close());
  t.ok(await second.isReady());
  await t.rejects(first.current('Patient', 'x'), /is not open/, 'a closed engine refuses calls');
});

t.test('a lock left by a process that no longer exists is taken over', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  const child = spawn(process.execPath, ['-e', '']);
  const deadPid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  await writeFile(path.join(dataDir, 'LOCK'), `${deadPid}\n`);
  const { warnings, log } = recordingLog();
  const engine = createEmbeddedEngine({ dataDir, log });
  await engine.open();
  t.teardown(() => engine.close());
  t.match(warnings, [new RegExp(`stale lock of process ${deadPid}`)]);
  t.equal((await readFile(path.join(dataDir, 'LOCK'), 'utf8')).trim(), String(process.pid));
});

t.test('a lock naming our own pid but not held by us is stale (restarted container)', async (t) => {
  const dataDir = await tempDir(t, 'carnet-lock-');
  await writeFile(path.join(dataDir, 'LOCK'), `${process.pid}\n`);
  const engine = createEmbeddedEngine({ dataDir, log: quiet });
  await engine.open();
  t.teardown(() => engine.close());
  t.ok(await engine.isReady());
});

t.test('the data directory is created when absent', async (t) => {
  const parent = await tempDir(t, 'carnet-lock-');
  const dataDir = path.join(parent, 'nested', 'data');
  const engine = createEmbeddedEngine({ dataDir, log: quiet });
  await engine.open();
  t.teardown(() => engine.close());
  t.ok((await stat(path.join(dataDir, 'journal'))).isFile());
  t.ok((await stat(path.join(dataDir, 'blobs'))).isDirectory());
});

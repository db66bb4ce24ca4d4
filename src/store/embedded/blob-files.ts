import { createHash, randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { PayloadTooLargeError } from '../../errors.js';
import type { BlobInfo, BlobStore } from '../engine.js';
import { fsyncDirectory } from './fsync-directory.js';

const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEMP_PREFIX = '.tmp-';

/**
 * Blobs as files under `dir`: `<key>` holds the bytes, `<key>.json` the
 * BlobInfo. A blob is written to a temp file while its size and SHA-1 are
 * computed, synced, then renamed into place (bytes first, info last), so a
 * key whose info file exists always has its complete bytes. A blob is stored
 * before the version naming it commits; the engine removes, at start, those
 * that no version names (removeUnreferenced).
 */
export class FileBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  /** Creates the folder and removes temp files a crash left behind. */
  async init(): Promise<void> {
    if ((await mkdir(this.dir, { recursive: true })) !== undefined) await fsyncDirectory(this.dir);
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(TEMP_PREFIX)) await unlink(path.join(this.dir, name)).catch(() => undefined);
    }
  }

  /**
   * Removes the blobs (bytes and info) whose key is not in `referenced`, of
   * which every file was last written before `before` (epoch ms). Files that
   * are not blobs are left alone. A failed unlink is not retried: the next
   * start finds the file again.
   */
  async removeUnreferenced(referenced: ReadonlySet<string>, before: number): Promise<{ blobs: number; files: number; bytes: number }> {
    const byKey = new Map<string, string[]>();
    for (const name of await readdir(this.dir)) {
      const key = name.endsWith('.json') ? name.slice(0, -'.json'.length) : name;
      if (!KEY.test(key) || referenced.has(key)) continue;
      let names = byKey.get(key);
      if (!names) byKey.set(key, (names = []));
      names.push(name);
    }
    let blobs = 0;
    let files = 0;
    let bytes = 0;
    for (const names of byKey.values()) {
      const stats = await Promise.all(names.map((name) => lstat(path.join(this.dir, name)).catch(() => undefined)));
      if (!stats.every((s) => s?.isFile() && s.mtimeMs < before)) continue;
      blobs++;
      for (const [i, name] of names.entries()) {
        await unlink(path.join(this.dir, name)).catch(ignoreNotFound);
        files++;
        bytes += stats[i]!.size;
      }
    }
    return { blobs, files, bytes };
  }

  async put(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<BlobInfo> {
    const key = randomUUID();
    const temp = path.join(this.dir, `${TEMP_PREFIX}${key}`);
    const hash = createHash('sha1');
    let size = 0;
    const fh = await open(temp, 'wx', 0o600);
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > options.maxBytes) throw new PayloadTooLargeError(`Content exceeds the limit of ${options.maxBytes} bytes`);
        hash.update(chunk);
        await fh.write(chunk);
      }
      await fh.datasync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    const info: BlobInfo = { key, size, sha1: hash.digest('base64') };
    const tempInfo = `${temp}.json`;
    await writeSynced(tempInfo, JSON.stringify(info));
    await rename(temp, this.file(key));
    await rename(tempInfo, this.infoFile(key));
    await fsyncDirectory(this.file(key));
    return info;
  }

  async open(key: string): Promise<{ info: BlobInfo; stream: Readable } | undefined> {
    if (!KEY.test(key)) return undefined;
    let info: BlobInfo;
    try {
      info = JSON.parse(await readFile(this.infoFile(key), 'utf8')) as BlobInfo;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    // Open before returning, so a missing file is "unknown" rather than a stream error later.
    const fh = await open(this.file(key), 'r').catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!fh) return undefined;
    return { info, stream: fh.createReadStream() };
  }

  async openRange(key: string, start: number, end: number): Promise<Readable | undefined> {
    if (!KEY.test(key)) return undefined;
    const fh = await open(this.file(key), 'r').catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    // createReadStream's `end` is inclusive, as the range's is.
    return fh?.createReadStream({ start, end });
  }

  async delete(key: string): Promise<void> {
    if (!KEY.test(key)) return;
    await unlink(this.infoFile(key)).catch(ignoreNotFound);
    await unlink(this.file(key)).catch(ignoreNotFound);
  }

  private file(key: string): string {
    return path.join(this.dir, key);
  }

  private infoFile(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }
}

async function writeSynced(file: string, text: string): Promise<void> {
  const fh = await open(file, 'wx', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { GridFSBucket, ObjectId, type Db } from 'mongodb';
import { PayloadTooLargeError } from '../../errors.js';
import type { BlobInfo, BlobStore } from '../engine.js';

const BUCKET = 'blobs';

/**
 * Blobs in a GridFS bucket. The SHA-1 is computed while streaming and stored
 * in the file's metadata once the upload is complete; a file without it is an
 * upload that never finished and counts as unknown.
 */
export class GridFsBlobStore implements BlobStore {
  private readonly bucket: GridFSBucket;

  constructor(private readonly db: Db) {
    this.bucket = new GridFSBucket(db, { bucketName: BUCKET });
  }

  async put(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<BlobInfo> {
    const id = new ObjectId();
    const upload = this.bucket.openUploadStreamWithId(id, id.toHexString());
    // A chunk's insert can fail while the loop waits for the source: the error
    // is kept (an 'error' event nobody listens to would end the process) and
    // thrown at the next step.
    let failure: unknown;
    upload.on('error', (err) => {
      failure ??= err;
    });
    const hash = createHash('sha1');
    let size = 0;
    try {
      for await (const chunk of source) {
        if (failure) throw failure;
        size += chunk.length;
        if (size > options.maxBytes) throw new PayloadTooLargeError(`Content exceeds the limit of ${options.maxBytes} bytes`);
        hash.update(chunk);
        if (!upload.write(chunk)) await once(upload, 'drain');
      }
      await new Promise<void>((resolve, reject) => {
        upload.end((err?: Error | null) => {
          const cause = err ?? failure;
          if (cause) reject(cause);
          else resolve();
        });
      });
    } catch (err) {
      // abort() removes the chunks written so far, but refuses once the upload has ended, and a chunk
      // insert still in flight may land after it: the file's documents are removed by its id as well.
      await upload.abort().catch(() => undefined);
      await Promise.all([
        this.db.collection(`${BUCKET}.chunks`).deleteMany({ files_id: id }),
        this.db.collection(`${BUCKET}.files`).deleteOne({ _id: id }),
      ]).catch(() => undefined);
      throw err;
    }
    const sha1 = hash.digest('base64');
    const marked = await this.db.collection(`${BUCKET}.files`).updateOne({ _id: id }, { $set: { 'metadata.sha1': sha1 } });
    if (marked.matchedCount !== 1) {
      // Without its file document the blob does not exist: its chunks go, and its key is never handed out.
      await this.db.collection(`${BUCKET}.chunks`).deleteMany({ files_id: id }).catch(() => undefined);
      throw new Error(`GridFS upload ${id.toHexString()} has no file document`);
    }
    return { key: id.toHexString(), size, sha1 };
  }

  async open(key: string): Promise<{ info: BlobInfo; stream: Readable } | undefined> {
    const id = toObjectId(key);
    if (!id) return undefined;
    const file = await this.bucket.find({ _id: id }).next();
    const sha1 = (file?.metadata as { sha1?: unknown } | undefined)?.sha1;
    if (!file || typeof sha1 !== 'string') return undefined;
    return { info: { key, size: file.length, sha1 }, stream: this.bucket.openDownloadStream(id) };
  }

  async openRange(key: string, start: number, end: number): Promise<Readable | undefined> {
    const id = toObjectId(key);
    if (!id || !(await this.bucket.find({ _id: id }).next())) return undefined;
    // GridFS's `end` is exclusive; the range's is inclusive. It seeks to the chunk holding `start`.
    return this.bucket.openDownloadStream(id, { start, end: end + 1 });
  }

  async delete(key: string): Promise<void> {
    const id = toObjectId(key);
    if (!id) return;
    await this.bucket.delete(id).catch((err: unknown) => {
      // Deleting an unknown blob is not an error for callers.
      if (!/not found/i.test((err as Error).message)) throw err;
    });
  }
}

function toObjectId(key: string): ObjectId | undefined {
  return /^[0-9a-f]{24}$/.test(key) ? new ObjectId(key) : undefined;
}

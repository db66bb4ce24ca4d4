import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/*
 * The journal's bytes on disk. A file starts with MAGIC, then frames back to
 * back:
 *
 *   u32 payload length, bit 31 set | u32 crc32 | u64 acknowledged | payload
 *
 * The crc32 covers the length word, `acknowledged` and the payload.
 * `acknowledged` is the offset up to which every frame had been acknowledged
 * (its writer told it was durable) when this frame was appended: never more
 * than the frame's own offset. A frame with an empty payload is a mark: it
 * carries only `acknowledged` and is not replayed (the journal writes one on
 * a clean close and on open, so that the frames before it are attested).
 *
 * `acknowledged` is what tells a torn tail from damage: a crash can leave
 * partial frames or holes only among frames nobody was told about, and every
 * frame on disk was appended before those were acknowledged, so none names an
 * offset past the damage. A verified frame naming one proves that the damaged
 * bytes had been acknowledged: they are not a torn tail.
 *
 * Files written before this format start with LEGACY_MAGIC and hold legacy
 * frames (u32 length, bit 31 clear | u32 crc32 of the payload | payload). They
 * are read as they are; the journal rewrites the magic before it appends its
 * first frame of the current format, so a server too old to read those
 * refuses the file rather than cutting it at the first one.
 */
export const MAGIC = Buffer.from('CARNETJ2', 'latin1');
export const LEGACY_MAGIC = Buffer.from('CARNETJ1', 'latin1');
export const FRAME_HEADER = 16;
const LEGACY_HEADER = 8;
const CURRENT = 0x8000_0000;
/** Larger than any sane batch; a bigger length can only come from corruption. */
export const MAX_PAYLOAD = 1024 * 1024 * 1024;
const READ_CHUNK = 8 * 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
/** The highest value of the upper word of `acknowledged` (offsets stay below 2^53). */
const MAX_HIGH_WORD = 0x1f_ffff;

/** The header of a frame of `payload`, appended when frames up to `acknowledged` are acknowledged. */
export function frameHeader(payload: Buffer, acknowledged: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  header.writeUInt32LE((CURRENT | payload.length) >>> 0, 0);
  header.writeUInt32LE(acknowledged % 2 ** 32, 8);
  header.writeUInt32LE(Math.floor(acknowledged / 2 ** 32), 12);
  header.writeUInt32LE(checksum(header, payload), 4);
  return header;
}

export const NO_PAYLOAD = Buffer.alloc(0);

function checksum(header: Buffer, payload: Buffer): number {
  return crc32(payload, crc32(header.subarray(8, FRAME_HEADER), crc32(header.subarray(0, 4))));
}

/** A frame that verified: its payload (empty for a mark) and where the next one starts. */
export interface Frame {
  payload: Buffer;
  next: number;
  /** Undefined for a legacy frame. */
  acknowledged: number | undefined;
}

/** A window over the file, read in large chunks. */
export class FileWindow {
  private buf = Buffer.alloc(0);
  private start = 0;

  constructor(private readonly fh: FileHandle, readonly size: number) {}

  /** Makes the window cover [pos, pos + n); false when the file is shorter. */
  async cover(pos: number, n: number): Promise<boolean> {
    if (pos + n > this.size) return false;
    if (pos >= this.start && pos + n <= this.start + this.buf.length) return true;
    // A fresh buffer each time: payloads handed out earlier stay valid.
    this.buf = Buffer.allocUnsafe(Math.min(Math.max(n, READ_CHUNK), this.size - pos));
    await readFully(this.fh, this.buf, pos);
    this.start = pos;
    return true;
  }

  /** Bytes [pos, pos + n), which the window must cover. */
  slice(pos: number, n: number): Buffer {
    return this.buf.subarray(pos - this.start, pos - this.start + n);
  }

  u32(pos: number): number {
    return this.buf.readUInt32LE(pos - this.start);
  }

  /** The covered bytes from `pos` on, and their offset in the file. */
  rest(pos: number): { bytes: Buffer; at: number } {
    return { bytes: this.buf.subarray(pos - this.start), at: pos };
  }
}

/** The frame at `pos` if its header is sound and its checksum verifies. */
export async function readFrame(w: FileWindow, pos: number): Promise<Frame | undefined> {
  if (!(await w.cover(pos, LEGACY_HEADER))) return undefined;
  const word = w.u32(pos);
  if (word >= CURRENT) {
    const length = word - CURRENT;
    if (length > MAX_PAYLOAD || !(await w.cover(pos, FRAME_HEADER + length))) return undefined;
    const high = w.u32(pos + 12);
    if (high > MAX_HIGH_WORD) return undefined;
    const acknowledged = high * 2 ** 32 + w.u32(pos + 8);
    if (acknowledged < MAGIC.length || acknowledged > pos) return undefined;
    const payload = w.slice(pos + FRAME_HEADER, length);
    if (checksum(w.slice(pos, FRAME_HEADER), payload) !== w.u32(pos + 4)) return undefined;
    return { payload, next: pos + FRAME_HEADER + length, acknowledged };
  }
  if (word === 0 || word > MAX_PAYLOAD || !(await w.cover(pos, LEGACY_HEADER + word))) return undefined;
  const payload = w.slice(pos + LEGACY_HEADER, word);
  if (crc32(payload) !== w.u32(pos + 4)) return undefined;
  return { payload, next: pos + LEGACY_HEADER + word, acknowledged: undefined };
}

/**
 * Replays every frame that verifies, from the first one on, and stops at the
 * first that does not. Returns where it stopped, and whether the last frame
 * is a mark attesting every frame before it.
 */
export async function scanFrames(w: FileWindow, replay: (payload: Buffer, offset: number) => void): Promise<{ end: number; attested: boolean }> {
  let pos = MAGIC.length;
  let attested = true;
  while (pos < w.size) {
    const frame = await readFrame(w, pos);
    if (!frame) break;
    if (frame.payload.length > 0) {
      replay(frame.payload, pos);
      attested = false;
    } else {
      attested = frame.acknowledged === pos;
    }
    pos = frame.next;
  }
  return { end: pos, attested };
}

/**
 * The first frame after `damage` (an offset where no frame verifies) that was
 * appended once the bytes at `damage` had been acknowledged, if any: the
 * proof that they are not a torn tail. The bytes are searched one offset at a
 * time for a header of the current format that can be sound (its upper bit
 * set, a length that fits, `acknowledged` within bounds), and only those are
 * checksummed; a frame that verifies is skipped whole.
 */
export async function findAcknowledgedAfter(w: FileWindow, damage: number): Promise<{ offset: number; acknowledged: number } | undefined> {
  let pos = damage + 1;
  while (pos + FRAME_HEADER <= w.size) {
    const candidate = await nextCandidate(w, pos);
    if (candidate === undefined) return undefined;
    const frame = await readFrame(w, candidate);
    if (frame?.acknowledged === undefined) {
      pos = candidate + 1;
    } else if (frame.acknowledged > damage) {
      return { offset: candidate, acknowledged: frame.acknowledged };
    } else {
      pos = frame.next;
    }
  }
  return undefined;
}

async function nextCandidate(w: FileWindow, from: number): Promise<number | undefined> {
  let pos = from;
  while (pos + FRAME_HEADER <= w.size) {
    await w.cover(pos, Math.min(READ_CHUNK, w.size - pos));
    const { bytes, at } = w.rest(pos);
    const last = bytes.length - FRAME_HEADER;
    for (let i = 0; i <= last; i++) {
      // Cheapest test first: most bytes of a JSON payload are below 0x80.
      if (bytes[i + 3]! < 0x80) continue;
      const high = bytes.readUInt32LE(i + 12);
      if (high > MAX_HIGH_WORD) continue;
      const offset = at + i;
      const length = bytes.readUInt32LE(i) - CURRENT;
      if (length > MAX_PAYLOAD || offset + FRAME_HEADER + length > w.size) continue;
      const acknowledged = high * 2 ** 32 + bytes.readUInt32LE(i + 8);
      if (acknowledged < MAGIC.length || acknowledged > offset) continue;
      return offset;
    }
    pos = at + last + 1;
  }
  return undefined;
}

/** Whether the file holds only zero bytes from `from` to its end. */
export async function zerosToEnd(w: FileWindow, from: number): Promise<boolean> {
  for (let pos = from; pos < w.size;) {
    await w.cover(pos, Math.min(READ_CHUNK, w.size - pos));
    const { bytes } = w.rest(pos);
    for (let i = 0; i < bytes.length; i += ZEROS.length) {
      const part = bytes.subarray(i, i + ZEROS.length);
      if (!part.equals(ZEROS.subarray(0, part.length))) return false;
    }
    pos += bytes.length;
  }
  return true;
}

/** Reads back the payload of the frame at `offset`, either format. */
export async function readPayloadAt(fh: FileHandle, offset: number): Promise<Buffer> {
  const head = Buffer.alloc(LEGACY_HEADER);
  await readFully(fh, head, offset);
  const word = head.readUInt32LE(0);
  if (word < CURRENT) {
    const payload = Buffer.allocUnsafe(word);
    await readFully(fh, payload, offset + LEGACY_HEADER);
    if (crc32(payload) !== head.readUInt32LE(4)) throw new Error(`journal frame at offset ${offset} fails its checksum`);
    return payload;
  }
  const rest = Buffer.allocUnsafe(FRAME_HEADER - LEGACY_HEADER + word - CURRENT);
  await readFully(fh, rest, offset + LEGACY_HEADER);
  const header = Buffer.concat([head, rest.subarray(0, FRAME_HEADER - LEGACY_HEADER)]);
  const payload = rest.subarray(FRAME_HEADER - LEGACY_HEADER);
  if (checksum(header, payload) !== head.readUInt32LE(4)) throw new Error(`journal frame at offset ${offset} fails its checksum`);
  return payload;
}

export async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`journal ends before offset ${position + buf.length}`);
    done += bytesRead;
  }
}

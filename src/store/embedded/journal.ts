import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { fsyncDirectory } from './fsync-directory.js';
import {
  FileWindow,
  findAcknowledgedAfter,
  FRAME_HEADER,
  frameHeader,
  LEGACY_MAGIC,
  MAGIC,
  MAX_PAYLOAD,
  NO_PAYLOAD,
  readFully,
  readPayloadAt,
  scanFrames,
  zerosToEnd,
} from './journal-frames.js';

export interface EngineLog {
  warn(msg: string): void;
  info(msg: string): void;
}

/**
 * Damage in a journal that a crash cannot have left: bytes that fail their
 * checks, followed by a frame appended after they had been acknowledged. The
 * journal refuses to open such a file and leaves it as it is.
 */
export class JournalCorruptError extends Error {
  constructor(
    readonly file: string,
    /** Where the first frame that fails its checks starts. */
    readonly offset: number,
    /** Bytes from `offset` to the end of the file. */
    readonly following: number,
    /** A frame appended after the damaged bytes had been acknowledged. */
    readonly witness: number,
  ) {
    super(
      `journal ${file} is damaged at byte offset ${offset}: the ${following} bytes from there to its end hold writes that were acknowledged ` +
        `(the frame at offset ${witness} was appended after them), so this is no torn tail from a crash. Refusing to open it, so that nothing ` +
        `acknowledged is dropped; the file was left unchanged. Restore the data directory from a backup, or, to give up every write from that ` +
        `offset on, keep a copy of the file and run: truncate -s ${offset} '${file}'`,
    );
    this.name = 'JournalCorruptError';
  }
}

/**
 * With O_DSYNC each write returns once its bytes (and the file size) are on
 * disk: one system call per group commit instead of a write and an
 * fdatasync, each a round trip through libuv's thread pool. Where the flag
 * does not exist (Windows), writes are followed by fdatasync.
 */
const DSYNC = constants.O_DSYNC ?? 0;
/**
 * The file is kept longer than its frames, the space ahead of them written
 * with zeros and synced: a synced write that stays inside the file's size
 * changes no metadata, so the disk commits the data alone (measured on ext4:
 * about 10% more creates per second, and 30-40% less CPU per write, than
 * appends that grow the file). The space ahead grows with the file, between
 * these bounds, and is cut off again by a clean close.
 */
const MIN_AHEAD = 1024 * 1024;
const MAX_AHEAD = 32 * 1024 * 1024;
/** Left unwritten between the last frame and the zeros, when frames have caught up with them: room to append meanwhile. */
const GAP = 64 * 1024;
/**
 * Only frames smaller than this ask for zeros ahead: a large write (a bulk
 * load, batches of a thousand resources) gains nothing measurable from them,
 * and would write every byte twice (zeros, then the frame): 100 frames of
 * 1.5 MB took 350 ms with zeros ahead, 215-240 ms without.
 */
const SMALL_FRAME = 64 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Writes in flight at once. A virtio disk completes concurrent O_DSYNC writes
 * side by side (measured here with 8 KiB writes: 1,770/s one at a time,
 * 2,750/s two at a time, 3,800/s four at a time), so a round need not wait
 * for the previous round's sync before it starts its own.
 */
const MAX_IN_FLIGHT = 3;

/** One group commit's write: its frames, acknowledged once it and every earlier write are done. */
interface Round {
  group: Pending[];
  written: boolean;
}

interface Pending {
  /** The frame header (length, checksum, acknowledged); the payload follows it on disk, written from its own buffer. */
  header: Buffer;
  payload: Buffer;
  offset: number;
  onDurable: (offset: number) => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A frame refused because the journal failed to write. `mayHaveLanded`: the
 * frame was being written when the disk failed, so it may be replayed at the
 * next open (a caller keeps what the frame names, a Binary's bytes); false,
 * it was never written.
 */
export class JournalWriteError extends Error {
  constructor(message: string, readonly mayHaveLanded: boolean, options: { cause: unknown }) {
    super(message, options);
    this.name = 'JournalWriteError';
  }
}

/**
 * An append-only file of checksummed frames. `append` resolves once its frame
 * is written and synced to disk (O_DSYNC, or fdatasync); frames queued while
 * the writes in flight are busy are written and synced together by the next
 * round (group commit), so many concurrent writers share one sync. Up to
 * MAX_IN_FLIGHT rounds are written at once, each at its own offset; a frame
 * is acknowledged only once every earlier frame is too, so a crash can leave
 * a hole only in frames nobody was told were durable, and the next open cuts
 * the file at the hole. Each frame names the offset up to which frames were
 * acknowledged when it was appended (journal-frames.ts): damage followed by a
 * frame naming an offset past it is no such hole, and the journal refuses to
 * open rather than cut acknowledged frames off.
 */
export class Journal {
  private queue: Pending[] = [];
  /** Writes started and not yet acknowledged, in journal order. */
  private rounds: Round[] = [];
  /** Rounds whose write has not returned yet (MAX_IN_FLIGHT bounds these). */
  private writing = 0;
  /** A round is to start on the next turn of the event loop. */
  private started = false;
  /** Waiting for the queue and every round to be done (close). */
  private idleWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  /** The zeros being written ahead: from where, and when they are done. No frame is written across `from` meanwhile. */
  private extension: { from: number; done: Promise<void> } | undefined;
  /** A second handle without O_DSYNC, for the zeros: they are synced once, not write by write. */
  private zeroWriter: FileHandle | undefined;
  /** Frames up to this offset are acknowledged (every frame found on open counts as such). */
  private acknowledged: number;

  private constructor(
    private readonly file: string,
    private readonly fh: FileHandle,
    private readonly log: EngineLog,
    private end: number,
    /** The file's size on disk: frames, then zeros. */
    private allocated: number,
    /** Whether the last frame is a mark attesting every frame before it. */
    private attested: boolean,
  ) {
    this.acknowledged = end;
  }

  /**
   * Opens (or creates) the journal and replays every intact frame in order.
   * A torn tail (short header, short payload, bad checksum, with no frame
   * after it appended once it was acknowledged) is cut off: those bytes were
   * never acknowledged, since a commit resolves only after its whole frame is
   * synced. Damage that was acknowledged is refused (JournalCorruptError),
   * the file untouched. An open that replayed frames ends with a mark
   * attesting them.
   */
  static async open(file: string, log: EngineLog, replay: (payload: Buffer, offset: number) => void): Promise<Journal> {
    const fh = await open(file, constants.O_RDWR | constants.O_CREAT | DSYNC, 0o600);
    try {
      const size = (await fh.stat()).size;
      if (size < MAGIC.length) {
        const head = Buffer.alloc(size);
        if (size > 0) await fh.read(head, 0, size, 0);
        if (!MAGIC.subarray(0, size).equals(head)) throw new Error(`${file} is not a carnet journal`);
        await fh.truncate(0);
        await fh.write(MAGIC, 0, MAGIC.length, 0);
        await fh.datasync();
        await fsyncDirectory(file);
        return new Journal(file, fh, log, MAGIC.length, MAGIC.length, true);
      }
      const head = Buffer.alloc(MAGIC.length);
      await readFully(fh, head, 0);
      const legacy = head.equals(LEGACY_MAGIC);
      if (!legacy && !head.equals(MAGIC)) throw new Error(`${file} is not a carnet journal`);
      const window = new FileWindow(fh, size);
      const { end, attested } = await scanFrames(window, replay);
      let allocated = size;
      // Zeros after the last frame are space written ahead (the server stopped without closing).
      if (end < size && !(await zerosToEnd(window, end))) {
        const witness = await findAcknowledgedAfter(window, end);
        if (witness) throw new JournalCorruptError(file, end, size - end, witness.offset);
        log.warn(`journal ${file}: dropped a torn or corrupt tail of ${size - end} bytes at offset ${end}`);
        await fh.truncate(end);
        await fh.datasync();
        allocated = end;
      }
      // Frames of the current format follow: a server that reads only legacy frames must refuse the file, not cut it.
      if (legacy) {
        await writeAll(fh, [MAGIC], 0);
        if (!DSYNC) await fh.datasync();
      }
      const journal = new Journal(file, fh, log, end, allocated, attested);
      if (!attested) await journal.mark();
      return journal;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** The error that stopped the journal, if any: no write is accepted after one. */
  get failed(): Error | undefined {
    return this.failure;
  }

  get size(): number {
    return this.end;
  }

  /**
   * Queues one frame. `onDurable` runs once the frame is on disk, in journal
   * order and before the promise resolves, so callers publish state in the
   * same order the journal holds it.
   */
  append(payload: Buffer, onDurable: (offset: number) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (payload.length === 0 || payload.length > MAX_PAYLOAD) return Promise.reject(new Error(`journal frame of ${payload.length} bytes refused`));
    const header = frameHeader(payload, this.acknowledged);
    const offset = this.end;
    this.end += FRAME_HEADER + payload.length;
    this.attested = false;
    if (payload.length < SMALL_FRAME) this.extendIfNeeded();
    return new Promise((resolve, reject) => {
      this.queue.push({ header, payload, offset, onDurable, resolve, reject });
      this.schedule();
    });
  }

  /** Reads back the payload of the frame at `offset` (an offset given to onDurable or replay). */
  async read(offset: number): Promise<Buffer> {
    return readPayloadAt(this.fh, offset);
  }

  /**
   * Waits for queued frames, then closes the file, without the space written
   * ahead, and with a mark attesting every frame (so that damage to any of
   * them is told from a torn tail).
   */
  async close(): Promise<void> {
    for (;;) {
      if (this.queue.length > 0 || this.rounds.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else if (this.extension) await this.extension.done;
      else break;
    }
    try {
      await this.zeroWriter?.close();
      if (!this.failure) {
        if (!this.attested) await this.mark();
        if (this.allocated > this.end) await this.fh.truncate(this.end);
      }
    } finally {
      await this.fh.close();
    }
  }

  /**
   * Appends a mark, a frame without payload, attesting that every frame
   * before it is acknowledged. Only while nothing else is being written (open,
   * close). Without it the frames are as durable, only less well guarded: a
   * failure is reported, not thrown.
   */
  private async mark(): Promise<void> {
    try {
      await writeAll(this.fh, [frameHeader(NO_PAYLOAD, this.acknowledged)], this.end);
      if (!DSYNC) await this.fh.datasync();
    } catch (err) {
      this.log.warn(`journal ${this.file}: could not write a mark after its frames (${err instanceof Error ? err.message : String(err)})`);
      return;
    }
    this.end += FRAME_HEADER;
    this.acknowledged = this.end;
    this.attested = true;
  }

  /**
   * Starts writing zeros ahead when the frames come within half the space
   * ahead of its end. It runs beside the frames' writes, always beyond them:
   * a frame that would cross where the zeros start waits for them (flush).
   */
  private extendIfNeeded(): void {
    if (this.extension || this.failure) return;
    const ahead = Math.min(MAX_AHEAD, Math.max(MIN_AHEAD, this.end));
    if (this.allocated - this.end >= ahead / 2) return;
    const from = Math.max(this.allocated, this.end + GAP);
    const to = from + ahead;
    const done = this.writeZeros(from, to).then(
      () => {
        this.allocated = to;
      },
      (err: unknown) => {
        // Only speed is lost: frames beyond the zeros grow the file, as without them.
        this.log.warn(`journal ${this.file}: could not write space ahead (${err instanceof Error ? err.message : String(err)}); writes go on without it`);
        this.allocated = Infinity;
      },
    ).finally(() => {
      this.extension = undefined;
    });
    this.extension = { from, done };
  }

  private async writeZeros(from: number, to: number): Promise<void> {
    this.zeroWriter ??= await open(this.file, constants.O_WRONLY);
    for (let at = from; at < to; at += ZEROS.length) {
      const length = Math.min(ZEROS.length, to - at);
      let done = 0;
      while (done < length) done += (await this.zeroWriter.write(ZEROS, 0, length - done, at + done)).bytesWritten;
    }
    await this.zeroWriter.datasync();
  }

  /**
   * Starts the next round after one turn of the event loop, which lets
   * writers woken by an earlier round queue their next frame and share it.
   */
  private schedule(): void {
    if (this.started || this.queue.length === 0 || this.writing >= MAX_IN_FLIGHT) return;
    this.started = true;
    setImmediate(() => {
      this.started = false;
      if (this.queue.length === 0 || this.writing >= MAX_IN_FLIGHT) return;
      const round: Round = { group: this.queue, written: false };
      this.queue = [];
      this.rounds.push(round);
      this.writing++;
      void this.write(round).finally(() => {
        this.writing--;
        this.schedule();
      });
    });
  }

  private async write(round: Round): Promise<void> {
    const { group } = round;
    const last = group[group.length - 1]!;
    try {
      const extension = this.extension;
      if (extension && last.offset + FRAME_HEADER + last.payload.length > extension.from) await extension.done;
      await writeAll(this.fh, group.flatMap((p) => [p.header, p.payload]), group[0]!.offset);
      if (!DSYNC) await this.fh.datasync();
    } catch (cause) {
      this.fail(cause);
      return;
    }
    if (this.failure) return;
    round.written = true;
    // Acknowledge in journal order: a round done before an earlier one waits for it.
    while (this.rounds[0]?.written) {
      for (const p of this.rounds.shift()!.group) {
        this.acknowledged = p.offset + FRAME_HEADER + p.payload.length;
        p.onDurable(p.offset);
        p.resolve();
      }
    }
    this.wakeIfIdle();
  }

  /**
   * What reached the disk is unknown: every frame not yet acknowledged is
   * refused, and so is every later write; the next open cuts whatever
   * partial frame, or hole, was left.
   */
  private fail(cause: unknown): void {
    if (!this.failure) {
      this.failure = new JournalWriteError('journal write failed; the store accepts no more writes', false, { cause });
      // Frames of rounds under way may be whole on disk (the write done, its sync failed): the next open replays them.
      const uncertain = new JournalWriteError('journal write failed while this frame was being written; it may be on disk', true, { cause });
      for (const round of this.rounds) for (const p of round.group) p.reject(uncertain);
      for (const p of this.queue) p.reject(this.failure);
      this.rounds = [];
      this.queue = [];
    }
    this.wakeIfIdle();
  }

  private wakeIfIdle(): void {
    if (this.queue.length > 0 || this.rounds.length > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/**
 * Writes the buffers back to back from `position` with one writev (no copy
 * into a single buffer first; libuv splits a list longer than the system's
 * IOV_MAX, 1,024 on Linux, into several calls). A short write, which a
 * regular file rarely gives, is finished from the first byte not written.
 */
async function writeAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const b of buffers) total += b.length;
  const { bytesWritten } = await fh.writev(buffers, position);
  if (bytesWritten === total) return;
  const rest = Buffer.concat(buffers).subarray(bytesWritten);
  let done = 0;
  while (done < rest.length) {
    const { bytesWritten: n } = await fh.write(rest, done, rest.length - done, position + bytesWritten + done);
    done += n;
  }
}

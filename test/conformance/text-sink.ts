import { Writable } from 'node:stream';

/** A stream that keeps what is written to it, for a test to read the kit's output. */
export function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

/**
 * Encodes a byte stream as base64 chunk by chunk: each chunk is cut at a
 * multiple of 3 bytes so the pieces concatenate into one valid base64 text.
 */
export async function* base64Stream(source: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let carry = Buffer.alloc(0);
  for await (const chunk of source) {
    const bytes = carry.length ? Buffer.concat([carry, chunk]) : Buffer.from(chunk);
    const usable = bytes.length - (bytes.length % 3);
    if (usable) yield bytes.subarray(0, usable).toString('base64');
    carry = bytes.subarray(usable);
  }
  if (carry.length) yield carry.toString('base64');
}

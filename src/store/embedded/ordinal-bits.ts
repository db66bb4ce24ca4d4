/**
 * A set of small non-negative integers (the ordinals of a secondary index)
 * as one bit each, for the values that many items hold: a status, a
 * category, a unit. Against a Set of the same numbers it costs no hashing
 * and no rehashing as it grows (adding to a Set of 100,000 entries was the
 * largest single cost of a create: about 8% of its CPU), and an eighth of a
 * byte per possible ordinal instead of about 20 bytes per member, in a
 * buffer the garbage collector does not scan.
 *
 * It answers like a Set<number> where the index uses one (add, delete, has,
 * size, iteration); iteration is in ascending order.
 */
export class OrdinalBits implements Iterable<number> {
  private words: Uint32Array;
  private count = 0;

  /** `capacity`: ordinals expected below it (the index's size); the set grows past it. */
  constructor(capacity: number, members: Iterable<number> = []) {
    this.words = new Uint32Array(Math.max(1, (capacity + 31) >>> 5));
    for (const ordinal of members) this.add(ordinal);
  }

  get size(): number {
    return this.count;
  }

  add(ordinal: number): this {
    const w = ordinal >>> 5;
    if (w >= this.words.length) this.grow(w);
    const bit = 1 << (ordinal & 31);
    const word = this.words[w]!;
    if ((word & bit) === 0) {
      this.words[w] = word | bit;
      this.count++;
    }
    return this;
  }

  delete(ordinal: number): boolean {
    const w = ordinal >>> 5;
    if (w >= this.words.length) return false;
    const bit = 1 << (ordinal & 31);
    const word = this.words[w]!;
    if ((word & bit) === 0) return false;
    this.words[w] = word & ~bit;
    this.count--;
    return true;
  }

  has(ordinal: number): boolean {
    const w = ordinal >>> 5;
    return w < this.words.length && (this.words[w]! & (1 << (ordinal & 31))) !== 0;
  }

  *[Symbol.iterator](): Iterator<number> {
    const words = this.words;
    for (let w = 0; w < words.length; w++) {
      let word = words[w]!;
      while (word !== 0) {
        const lowest = word & -word;
        yield (w << 5) + 31 - Math.clz32(lowest);
        word ^= lowest;
      }
    }
  }

  private grow(word: number): void {
    const grown = new Uint32Array(Math.max(word + 1, this.words.length * 2));
    grown.set(this.words);
    this.words = grown;
  }
}

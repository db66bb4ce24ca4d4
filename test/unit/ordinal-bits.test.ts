import t from 'tap';
import { OrdinalBits } from '../../src/store/embedded/ordinal-bits.js';

t.test('answers as a Set of the same numbers would, through adds, deletes and growth', async (t) => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const bits = new OrdinalBits(40, [3, 5, 31, 32]);
  const set = new Set([3, 5, 31, 32]);
  const differences: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    // Ordinals beyond the first capacity, as an index grows.
    const ordinal = rnd(Math.min(100 + i, 5000));
    if (rnd(3) === 0) {
      if (bits.delete(ordinal) !== set.delete(ordinal)) differences.push(ordinal);
    } else {
      bits.add(ordinal);
      set.add(ordinal);
    }
  }
  t.same(differences, [], 'every delete says what a Set says: whether the number was there');
  t.equal(bits.size, set.size);
  t.same([...bits], [...set].sort((a, b) => a - b), 'the same members, in ascending order');
  for (const probe of [0, 1, 31, 32, 63, 4999, 5000, 1_000_000]) t.equal(bits.has(probe), set.has(probe), `has(${probe})`);
  t.equal(bits.delete(10_000_000), false, 'far beyond its words: nothing to delete');
});

t.test('the highest bit of a word and an empty set', async (t) => {
  const bits = new OrdinalBits(0);
  t.same([...bits], []);
  bits.add(31).add(63).add(0);
  t.same([...bits], [0, 31, 63]);
  t.equal(bits.size, 3);
  bits.add(31);
  t.equal(bits.size, 3, 'adding a member again changes nothing');
});

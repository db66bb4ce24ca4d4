import t from 'tap';
import { escapeRegex } from '../../src/fhir/search/normalize.js';

t.test('search text becomes a pattern both engines accept and read the same', async (t) => {
  for (const text of ['a\0b', '\0', 'x.y*z', '(a|b)[c]{2}^$\\', 'dupont', 'é\u0000è']) {
    const pattern = escapeRegex(text);
    // MongoDB refuses a pattern holding a NUL byte ("Regular expression cannot contain an embedded null byte").
    t.notOk(pattern.includes('\0'), `${JSON.stringify(text)}: no NUL byte in the pattern`);
    const re = new RegExp(`^${pattern}$`);
    t.ok(re.test(text), `${JSON.stringify(text)}: matches itself`);
    t.notOk(re.test(`${text}x`), `${JSON.stringify(text)}: and only itself`);
  }
});

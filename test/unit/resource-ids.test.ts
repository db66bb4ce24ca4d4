import t from 'tap';
import { isValidId } from '../../src/fhir/resource-types.js';

t.test('FHIR ids: 1 to 64 of A-Z a-z 0-9 - .', async (t) => {
  for (const id of ['a', 'Z', '0', '-', '.', 'abc-DEF.123', '9b1c7e2a-57f0-4b61-9c36-0f1f5c4d8e21', 'x'.repeat(64)]) t.ok(isValidId(id), `${id} is valid`);
  for (const id of ['', 'x'.repeat(65), 'a_b', 'a b', 'a/b', 'é', 'a:b', 'a\u0000', '@', '[', '`', '{', ' a', 'a\n']) t.notOk(isValidId(id), `${JSON.stringify(id)} is not`);
});

t.test('the check agrees with the rule written as a regular expression, character by character', async (t) => {
  const rule = /^[A-Za-z0-9\-.]{1,64}$/;
  let differ = 0;
  for (let c = 0; c < 0x3000; c++) {
    const id = `a${String.fromCharCode(c)}z`;
    if (isValidId(id) !== rule.test(id)) differ++;
  }
  t.equal(differ, 0);
});

import t from 'tap';
import { VersionConflictError } from '../../src/errors.js';
import { ResourceTurns, writeInTurn } from '../../src/store/resource-turns.js';

// Another server's write landing first shows here as the store's version conflict (409).
const conflicted = () => new VersionConflictError('Patient/p is at version 3, not 2');

t.test('without If-Match a write that met another server\'s write is redone', async (t) => {
  const turns = new ResourceTurns();
  let attempts = 0;
  const result = await writeInTurn(turns, 'Patient', 'p', undefined, async () => {
    attempts++;
    if (attempts < 3) throw conflicted();
    return 'written';
  });
  t.equal(result, 'written');
  t.equal(attempts, 3);
});

t.test('it gives up with the 409 after five attempts', async (t) => {
  const turns = new ResourceTurns();
  let attempts = 0;
  const err = await writeInTurn(turns, 'Patient', 'p', undefined, async () => {
    attempts++;
    throw conflicted();
  }).catch((e: unknown) => e);
  t.match(err, { statusCode: 409, code: 'FHIR_ERR_STORE_CONFLICT' });
  t.equal(attempts, 5);
});

t.test('with If-Match the conflict is the precondition failing: 412 at once', async (t) => {
  const turns = new ResourceTurns();
  let attempts = 0;
  const err = await writeInTurn(turns, 'Patient', 'p', 'W/"2"', async () => {
    attempts++;
    throw conflicted();
  }).catch((e: unknown) => e);
  t.match(err, { statusCode: 412, code: 'FHIR_ERR_STORE_PRECONDITION' });
  t.equal(attempts, 1);
});

t.test('other errors are not retried', async (t) => {
  const turns = new ResourceTurns();
  let attempts = 0;
  const err = await writeInTurn(turns, 'Patient', 'p', undefined, async () => {
    attempts++;
    throw new VersionConflictError('If-Match W/"1" does not match', 412);
  }).catch((e: unknown) => e);
  t.match(err, { statusCode: 412 });
  t.equal(attempts, 1);
});

t.test('writes to one resource take turns; to different resources they do not wait', async (t) => {
  const turns = new ResourceTurns();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const first = turns.run('Patient/a', async () => { await gate; order.push('a1'); });
  const second = turns.run('Patient/a', async () => { order.push('a2'); });
  await turns.run('Patient/b', async () => { order.push('b1'); });
  t.same(order, ['b1'], 'b did not wait for a');
  release();
  await Promise.all([first, second]);
  t.same(order, ['b1', 'a1', 'a2'], 'a2 ran after a1 ended');
  await t.rejects(turns.run('Patient/a', async () => { throw new Error('boom'); }));
  t.equal(await turns.run('Patient/a', async () => 'next'), 'next', 'a failed turn does not block the next one');
});

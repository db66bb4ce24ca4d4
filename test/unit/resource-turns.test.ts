import t from 'tap';
import { VersionConflictError } from '../../src/errors.js';
import { HeldTurns, ResourceTurns, writeInTurn } from '../../src/store/resource-turns.js';

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

// Turns held across a write's check and commit (the document content rules): a turn whose lease
// among servers cannot be had (the store failed, or another server kept it too long) must fail
// the write and give back what it held, never leave the write pending and the turns taken.
t.test('a turn that cannot be taken fails the write and gives back the turns already held', async (t) => {
  const turns = new ResourceTurns(async (key, work) => {
    if (key === 'Binary/x') throw new Error('the store refused the lease');
    return work();
  });
  const held = new HeldTurns(turns);
  const taking = held.take(['Binary/a', 'Binary/x']);
  const outcome = await Promise.race([taking.then(() => 'taken', (err: Error) => err.message), new Promise((resolve) => setTimeout(resolve, 2000, 'still pending'))]);
  t.equal(outcome, 'the store refused the lease', 'the write fails with the cause');
  const next = await Promise.race([turns.run('Binary/a', async () => 'a is free'), new Promise((resolve) => setTimeout(resolve, 2000, 'Binary/a still held'))]);
  t.equal(next, 'a is free', 'the turn taken before was given back');
  await held.take(['Binary/a']);
  let entered = false;
  const waiting = turns.run('Binary/a', async () => { entered = true; });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(entered, 'a turn taken is held until released');
  held.release();
  await waiting;
  t.ok(entered);
});

/**
 * The server refuses to start on a journal damaged in the middle (bit rot, a
 * bad sector), rather than cut off every acknowledged write after the damage
 * and answer as if nothing happened.
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { childServerToken, runChildServerExpectingFailure, startChildServer, stopChildServer } from '../helpers/child-server.js';
import { createTestClient, tempDir, writeClientsFile } from '../helpers/tokens.js';

t.test('one bad byte in the middle of the journal: the server does not start, and says where', async (t) => {
  const dataDir = await tempDir(t, 'carnet-midcorrupt-');
  const client = await createTestClient();
  const env = { DATA_DIR: dataDir, CLIENTS_FILE: await writeClientsFile(dataDir, [client]) };
  const server = await startChildServer(env);
  t.teardown(() => stopChildServer(server, 'SIGKILL'));
  const bearer = `Bearer ${await childServerToken(server, client)}`;
  for (let i = 0; i < 80; i++) {
    const res = await request(`${server.fhirBase}/Patient`, {
      method: 'POST',
      headers: { authorization: bearer, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Family${i}`, given: ['Ann'] }] }),
    });
    await res.body.text();
    t.equal(res.statusCode, 201, `Patient ${i} acknowledged`);
  }
  await stopChildServer(server);

  const journal = path.join(dataDir, 'journal');
  const at = Math.floor((await stat(journal)).size / 2);
  const frameStart = frameHolding(await readFile(journal), at);
  const fh = await open(journal, 'r+');
  await fh.write(Buffer.from([0xff]), 0, 1, at);
  await fh.close();
  const damaged = await readFile(journal);

  const refused = await runChildServerExpectingFailure(env);
  t.equal(refused.code, 1, 'the server exits with an error');
  t.match(refused.output, /carnet failed to start: journal \S+ is damaged at byte offset \d+/);
  t.match(refused.output, journal, 'naming the file');
  const offset = Number(/byte offset (\d+)/.exec(refused.output)?.[1]);
  t.equal(offset, frameStart, `at the start of the frame holding the damaged byte (byte ${at})`);
  t.match(refused.output, `the ${damaged.length - offset} bytes from there`, 'saying how many bytes follow');
  t.match(refused.output, /truncate -s \d+/, 'and what an operator can do');
  t.notMatch(refused.output, /carnet listening/);
  t.ok((await readFile(journal)).equals(damaged), 'the journal is left byte for byte as it was');
});

/** Where the frame holding byte `at` starts: frames follow the 8-byte magic, each a 16-byte header (u32 length, bit 31 set) and its payload. */
function frameHolding(journal: Buffer, at: number): number {
  let pos = 8;
  while (pos < journal.length) {
    const next = pos + 16 + (journal.readUInt32LE(pos) & 0x7fff_ffff);
    if (at < next) return pos;
    pos = next;
  }
  throw new Error(`byte ${at} is past the last frame`);
}

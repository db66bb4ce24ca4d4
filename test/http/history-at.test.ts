import t from 'tap';
import type { Test } from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * History `_at` (https://hl7.org/fhir/R4/http.html#history): the versions
 * that were current at some point of the period the value's precision gives.
 */

type Clock = { at?: number };

async function setup(t: Test) {
  const clock: Clock = {};
  const server = await buildTestServer(t, { now: () => clock.at ?? Date.now() });
  const authorization = await server.auth();
  /** Writes through the repository with the clock at `iso`: the store's lastUpdated is then known to the millisecond. */
  async function writeAt(iso: string, resource: Resource): Promise<void> {
    clock.at = Date.parse(iso);
    try {
      await server.app.repository.update(resource.resourceType, resource.id!, resource);
    } finally {
      clock.at = undefined;
    }
  }
  async function deleteAt(iso: string, type: string, id: string): Promise<void> {
    clock.at = Date.parse(iso);
    try {
      await server.app.repository.delete(type, id);
    } finally {
      clock.at = undefined;
    }
  }
  async function history(url: string): Promise<{ status: number; entries: string[]; next?: string }> {
    const res = await server.app.inject({ url, headers: { authorization } });
    if (res.statusCode !== 200) return { status: res.statusCode, entries: [] };
    const bundle = res.json() as { entry?: Array<{ fullUrl: string; request: { method: string; url: string }; resource?: Resource }>; link: Array<{ relation: string; url: string }> };
    const entries = (bundle.entry ?? []).map((e) => e.resource ? `${e.resource.resourceType}/${e.resource.id}/${e.resource.meta?.versionId}` : `${e.request.url} deleted`);
    const next = bundle.link.find((l) => l.relation === 'next')?.url.replace('http://carnet.test', '');
    return { status: res.statusCode, entries, next };
  }
  /** Every entry of a history, following next links. */
  async function allPages(url: string): Promise<string[]> {
    const seen: string[] = [];
    let next: string | undefined = url;
    while (next) {
      const page = await history(next);
      t.equal(page.status, 200, next);
      seen.push(...page.entries);
      next = page.next;
    }
    return seen;
  }
  return { ...server, writeAt, deleteAt, history, allPages };
}

const patient = (id: string, family: string): Resource => ({ resourceType: 'Patient', id, name: [{ family }] });

t.test('instance history: a version is in when it was current at some point of the period', async (t) => {
  const { writeAt, history } = await setup(t);
  await writeAt('2026-11-24T14:42:21.442Z', patient('at1', 'One'));
  await writeAt('2026-11-24T14:42:23.717Z', patient('at1', 'Two'));
  await writeAt('2026-11-24T14:42:25.989Z', patient('at1', 'Three'));
  const at = async (value: string) => (await history(`/fhir/Patient/at1/_history?_at=${encodeURIComponent(value)}`)).entries;

  t.same(await at('2026-11-24T14:42:24Z'), ['Patient/at1/2'], 'one second: only the version current then');
  t.same(await at('2026-11-24T14:42:23Z'), ['Patient/at1/2', 'Patient/at1/1'], 'a second during which v2 replaced v1: both');
  t.same(await at('2026-11-24T14:42:23.800Z'), ['Patient/at1/2'], 'millisecond precision');
  t.same(await at('2026-11-24T14:42:21.442Z'), ['Patient/at1/1'], 'the very millisecond v1 was written');
  t.same(await at('2026-11-24T15:42:24+01:00'), ['Patient/at1/2'], 'a time zone other than UTC');
  const unescapedPlus = await history('/fhir/Patient/at1/_history?_at=2026-11-24T15:42:24+01:00&_since=2026-11-24T15:42:22+01:00');
  t.same(unescapedPlus.entries, ['Patient/at1/2'], 'an offset whose + was not escaped (read as a space), in _at and _since');
  t.same(await at('2026-11-24T14:42Z'), ['Patient/at1/3', 'Patient/at1/2', 'Patient/at1/1'], 'one minute');
  t.same(await at('2026-11-24'), ['Patient/at1/3', 'Patient/at1/2', 'Patient/at1/1'], 'the whole day: every version current during it');
  t.same(await at('2026-11'), ['Patient/at1/3', 'Patient/at1/2', 'Patient/at1/1'], 'the whole month');
  t.same(await at('2026-11-25'), ['Patient/at1/3'], 'a later day: the version still current');
  t.same(await at('2027'), ['Patient/at1/3'], 'a later year');
  t.same(await at('2026-11-23'), [], 'before the resource existed');
  t.same(await at('2026-11-24T14:42:20Z'), [], 'the second before v1');

  const withSince = await history(`/fhir/Patient/at1/_history?_since=${encodeURIComponent('2026-11-24T14:42:23Z')}&_at=2026-11-24`);
  t.same(withSince.entries, ['Patient/at1/3', 'Patient/at1/2'], '_since still bounds the versions');

  for (const repeated of ['_at=2026-11-24&_at=2026-11-25', '_since=2026-11-24&_since=2026-11-25', '_count=1&_count=2']) {
    const res = await history(`/fhir/Patient/at1/_history?${repeated}`);
    t.equal(res.status, 400, `${repeated}: a repeated history parameter is a 400, not a 500`);
  }
  for (const bad of ['yesterday', '2026-13-01', '2026-11-24T14:42:24', '2026-11-24T25:00:00Z']) {
    t.equal((await history(`/fhir/Patient/at1/_history?_at=${encodeURIComponent(bad)}`)).status, 400, `_at=${bad}`);
  }
});

t.test('a deletion is the version current after it', async (t) => {
  const { writeAt, deleteAt, history } = await setup(t);
  await writeAt('2026-11-24T10:00:00.000Z', patient('gone', 'Gone'));
  await deleteAt('2026-11-24T11:00:00.000Z', 'Patient', 'gone');
  t.same((await history('/fhir/Patient/gone/_history?_at=2026-11-24T10:30:00Z')).entries, ['Patient/gone/1']);
  t.same((await history('/fhir/Patient/gone/_history?_at=2026-11-24T12:00:00Z')).entries, ['Patient/gone deleted']);
  t.same((await history('/fhir/Patient/gone/_history?_at=2026-11-24')).entries, ['Patient/gone deleted', 'Patient/gone/1']);
});

t.test('type and system history with _at page without skipping or repeating', async (t) => {
  const { writeAt, history, allPages } = await setup(t);
  // Four patients, three versions each, written one minute apart in turn;
  // then many versions of a fifth that the period leaves out.
  const written: Array<{ key: string; ts: number }> = [];
  let minute = 0;
  for (let v = 1; v <= 3; v++) {
    for (const id of ['p1', 'p2', 'p3', 'p4']) {
      const iso = new Date(Date.UTC(2026, 10, 24, 9, minute++, 0, 500)).toISOString();
      await writeAt(iso, patient(id, `${id}-v${v}`));
      written.push({ key: `Patient/${id}/${v}`, ts: Date.parse(iso) });
    }
  }
  for (let v = 1; v <= 30; v++) {
    await writeAt(new Date(Date.UTC(2026, 10, 24, 8, 0, v)).toISOString(), patient('busy', `busy-v${v}`));
  }
  await writeAt('2026-11-24T09:30:00.000Z', { resourceType: 'Observation', id: 'other', status: 'final', code: { text: 'x' } });

  // During 09:05: p2 v2 written at 09:05:00.5 replaced p2 v1 (09:01); p1 v2
  // (09:04) had replaced p1 v1 (09:00); p3 and p4 still at v1; busy at v30.
  // Newest first, as history always is.
  const expected = ['Patient/p2/2', 'Patient/p1/2', 'Patient/p4/1', 'Patient/p3/1', 'Patient/p2/1', 'Patient/busy/30'];
  t.same((await history('/fhir/Patient/_history?_at=2026-11-24T09:05Z')).entries, expected, 'one page');
  for (const count of [1, 2, 4]) {
    t.same(await allPages(`/fhir/Patient/_history?_at=2026-11-24T09:05Z&_count=${count}`), expected, `type history, _count=${count}`);
  }
  t.same(await allPages('/fhir/_history?_at=2026-11-24T09:05Z&_count=2'), expected, 'system history');
  t.same(await allPages('/fhir/_history?_at=2026-11-24T09:40Z&_count=3'),
    ['Observation/other/1', 'Patient/p4/3', 'Patient/p3/3', 'Patient/p2/3', 'Patient/p1/3', 'Patient/busy/30'], 'system history later');
  const day = await allPages('/fhir/Patient/_history?_at=2026-11-24&_count=5');
  t.equal(day.length, 12 + 30, 'the whole day: every version');
  t.equal(new Set(day).size, day.length, 'no repeats');
});

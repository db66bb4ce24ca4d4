import t from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

const FHIR = 'application/fhir+json';

t.test('_sort on a date parameter whose values are Periods, some still running', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const encounter = (id: string, period: Record<string, string>) => app.inject({
    method: 'PUT', url: `/fhir/Encounter/${id}`, headers: { authorization, 'content-type': FHIR },
    payload: { resourceType: 'Encounter', id, status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, period },
  });
  // Ids in the opposite order of their dates, so that an id tie-break cannot pass for date order.
  t.equal((await encounter('z-open-2025', { start: '2025-06-01' })).statusCode, 201);
  t.equal((await encounter('b-closed-2024', { start: '2024-01-01', end: '2024-01-02' })).statusCode, 201);
  t.equal((await encounter('a-open-2019', { start: '2019-01-01' })).statusCode, 201);
  const ids = async (query: string) => {
    const res = await app.inject({ url: `/fhir/Encounter?${query}`, headers: { authorization } });
    t.equal(res.statusCode, 200, res.body.slice(0, 200));
    return ((res.json() as Bundle).entry ?? []).map((e) => e.resource!.id);
  };
  t.same(await ids('_sort=-date'), ['z-open-2025', 'a-open-2019', 'b-closed-2024'],
    'descending: the running ones first (they end latest), the one begun last before the other');
  t.same(await ids('_sort=date'), ['a-open-2019', 'b-closed-2024', 'z-open-2025'], 'ascending: by start');

  // Page by page, the same order.
  const seen: string[] = [];
  let url: string | undefined = '/fhir/Encounter?_sort=-date&_count=1';
  while (url) {
    const page = (await app.inject({ url, headers: { authorization } })).json() as Bundle;
    seen.push(...(page.entry ?? []).map((e) => e.resource!.id!));
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    url = next ? new URL(next).pathname + new URL(next).search : undefined;
  }
  t.same(seen, ['z-open-2025', 'a-open-2019', 'b-closed-2024']);
});

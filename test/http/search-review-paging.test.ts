import t from 'tap';
import type { Test } from 'tap';
import type { Bundle } from '@medplum/fhirtypes';
import { FHIR_JSON } from '../helpers/people.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

const BASE = 'http://carnet.test';
const FORM = 'application/x-www-form-urlencoded';
const TAG = 'urn:test|pg';

/**
 * Six Observations of one patient tagged urn:test|pg: pg1-pg3 with a date,
 * pg4-pg6 without; and resources of other types, in and out of her compartment.
 */
async function seeded(t: Test): Promise<TestServer & { authorization: string; patient: string }> {
  const server = await buildTestServer(t);
  const authorization = await server.auth();
  const put = async (resource: Record<string, unknown>) => {
    const res = await server.app.inject({
      method: 'PUT', url: `/fhir/${String(resource.resourceType)}/${String(resource.id)}`,
      headers: { authorization, 'content-type': FHIR_JSON }, payload: resource,
    });
    t.equal(res.statusCode, 201, res.body.slice(0, 300));
  };
  await put({ resourceType: 'Patient', id: 'pp', name: [{ family: 'Paging' }] });
  await put({ resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Doc' }] });
  await put({ resourceType: 'Condition', id: 'cond', subject: { reference: 'Patient/pp' }, code: { text: 'x' } });
  for (let i = 1; i <= 6; i++) {
    await put({
      resourceType: 'Observation', id: `pg${i}`, status: 'final',
      meta: { tag: [{ system: 'urn:test', code: 'pg' }] },
      code: { coding: [{ system: 'http://loinc.org', code: i % 2 ? '2345-7' : '29463-7' }] },
      subject: { reference: 'Patient/pp' },
      ...(i <= 3 ? { effectiveDateTime: `2024-0${i}-01` } : {}),
    });
  }
  return { ...server, authorization, patient: 'pp' };
}

function errorCode(body: { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> }): string | undefined {
  return body.issue?.[0]?.details?.coding?.[0]?.code;
}

function link(bundle: Bundle, relation: string): string | undefined {
  return bundle.link?.find((l) => l.relation === relation)?.url;
}

t.test('every link of a page reproduces the query: _type included (system level and compartment *)', async (t) => {
  const { app, authorization } = await seeded(t);
  const get = async (url: string) => {
    const res = await app.inject({ url: url.replace(BASE, ''), headers: { authorization } });
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    return res.json() as Bundle;
  };
  /** Every page, following next; checks each page's self link names the same query. */
  const walk = async (first: string) => {
    const types: string[] = [];
    const ids: string[] = [];
    let url: string | undefined = first;
    for (let n = 0; url && n < 20; n++) {
      const page = await get(url);
      t.match(link(page, 'self'), /[?&]_type=Observation(&|$)/, `self of page ${n + 1} keeps _type`);
      const next = link(page, 'next');
      if (next) t.match(next, /[?&]_type=Observation(&|$)/, `next of page ${n + 1} keeps _type`);
      const previous = link(page, 'previous');
      if (previous) t.match(previous, /[?&]_type=Observation(&|$)/, `previous of page ${n + 1} keeps _type`);
      for (const e of page.entry ?? []) {
        types.push(e.resource!.resourceType);
        ids.push(e.resource!.id!);
      }
      url = next;
    }
    return { types, ids };
  };

  for (const first of ['/fhir?_type=Observation&_count=2', '/fhir/Patient/pp/*?_type=Observation&_count=2']) {
    const { types, ids } = await walk(first);
    t.same([...new Set(types)], ['Observation'], `${first}: every page gives Observations only`);
    t.same(ids.sort(), ['pg1', 'pg2', 'pg3', 'pg4', 'pg5', 'pg6'], `${first}: each once`);
  }
  const typePath = await get('/fhir/Observation?_count=2');
  t.notMatch(link(typePath, 'self'), /_type=/, 'a type\'s path needs no _type in its links');
});

t.test('previous pages are the forward pages read back, records without the sort value included', async (t) => {
  const { app, authorization } = await seeded(t);
  const page = async (url: string) => {
    const res = await app.inject({ url: url.replace(BASE, ''), headers: { authorization } });
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    const bundle = res.json() as Bundle;
    return { ids: (bundle.entry ?? []).map((e) => e.resource!.id!), next: link(bundle, 'next'), previous: link(bundle, 'previous') };
  };
  for (const sort of ['date', '-date', '-date,-_id', 'date,_id']) {
    for (const count of [1, 2, 3, 4, 5]) {
      const label = `_sort=${sort}&_count=${count}`;
      const forward: string[][] = [];
      let current = await page(`/fhir/Observation?_tag=${TAG}&_sort=${sort}&_count=${count}`);
      forward.push(current.ids);
      while (current.next && forward.length < 10) {
        current = await page(current.next);
        forward.push(current.ids);
      }
      const all = forward.flat();
      t.same([...all].sort(), ['pg1', 'pg2', 'pg3', 'pg4', 'pg5', 'pg6'], `${label}: forward, each record once`);
      t.same(all.slice(3).sort(), ['pg4', 'pg5', 'pg6'], `${label}: the records without a date last`);

      // Backwards from the last page: each previous page is the forward page before it, exactly.
      const backward: string[][] = [current.ids];
      while (current.previous && backward.length < 10) {
        current = await page(current.previous);
        backward.push(current.ids);
      }
      t.same(backward, [...forward].reverse(), `${label}: previous links walk the same pages back`);
      t.notOk(current.previous, `${label}: back at the first page, no previous link`);
    }
  }
});

t.test('a cursor belongs to its query: other criteria, types or sort are a 400', async (t) => {
  const { app, authorization } = await seeded(t);
  const get = (url: string) => app.inject({ url, headers: { authorization } });
  const first = (await get(`/fhir/Observation?_sort=date&_count=2`)).json() as Bundle;
  const cursor = new URL(link(first, 'next')!).searchParams.get('_cursor')!;

  const otherCriteria = await get(`/fhir/Observation?_sort=date&code=2345-7&_count=2&_cursor=${cursor}`);
  t.equal(otherCriteria.statusCode, 400, 'a cursor of the search without code= is refused with code=');
  t.equal(errorCode(otherCriteria.json()), 'FHIR_ERR_SEARCH_CURSOR');
  t.equal((await get(`/fhir/Observation?_sort=-date&_count=2&_cursor=${cursor}`)).statusCode, 400, 'another _sort');
  const otherType = await get(`/fhir?_type=Encounter&_sort=date&_count=2&_cursor=${cursor}`);
  t.equal(otherType.statusCode, 400, 'another type');
  t.equal(errorCode(otherType.json()), 'FHIR_ERR_SEARCH_CURSOR');

  t.equal((await get(`/fhir/Observation?_sort=date&_count=3&_cursor=${cursor}`)).statusCode, 200, '_count may change between pages');
  t.equal((await get(`/fhir?_type=Observation&_sort=date&_count=2&_cursor=${cursor}`)).statusCode, 200, 'the same types at the system level');
  const withCode = (await get(`/fhir/Observation?code=2345-7&_tag=${TAG}&_sort=date&_count=1`)).json() as Bundle;
  const codeCursor = new URL(link(withCode, 'next')!).searchParams.get('_cursor')!;
  t.equal((await get(`/fhir/Observation?_tag=${TAG}&code=2345-7&_sort=date&_count=1&_cursor=${codeCursor}`)).statusCode, 200, 'criteria in another order are the same query');
});

t.test('POST _search takes a form, read as strictly as a URL', async (t) => {
  const { app, authorization } = await seeded(t);
  const post = (url: string, contentType: string, payload: string) => app.inject({ method: 'POST', url, headers: { authorization, 'content-type': contentType }, payload });

  for (const type of ['application/json', FHIR_JSON]) {
    const json = await post('/fhir/Observation/_search', type, JSON.stringify({ code: '2345-7' }));
    t.equal(json.statusCode, 415, `${type} is not a form`);
    t.equal(json.headers['content-type'], 'application/fhir+json; charset=utf-8');
    t.equal(errorCode(json.json()), 'FHIR_ERR_HTTP_MEDIA_TYPE');
  }
  t.equal((await post('/fhir/_search', 'application/json', '{"_type":"Observation"}')).statusCode, 415, 'at the system level too');

  const inUrl = await app.inject({ url: '/fhir/Observation?code=%zz', headers: { authorization } });
  t.equal(inUrl.statusCode, 400, 'broken percent-encoding in a URL');
  for (const body of ['code=%zz', 'code=%', 'code=%C3%28', `_tag=${encodeURIComponent(TAG)}&code=2345-7%`]) {
    const form = await post('/fhir/Observation/_search', FORM, body);
    t.equal(form.statusCode, 400, `${body}: broken percent-encoding in a form is a 400 too`);
    t.equal(errorCode(form.json()), 'FHIR_ERR_HTTP_BAD_REQUEST');
  }

  const good = await post(`/fhir/Observation/_search?_sort=date`, `${FORM}; charset=utf-8`, `_tag=${encodeURIComponent(TAG)}&code=2345-7&code=http%3A%2F%2Floinc.org%7C2345-7`);
  t.equal(good.statusCode, 200, good.body.slice(0, 200));
  t.same(((good.json() as Bundle).entry ?? []).map((e) => e.resource!.id), ['pg1', 'pg3', 'pg5'], 'a good form searches as the same query in a URL does, with the URL\'s own parameters');
  const system = await post('/fhir/_search', FORM, '_type=Condition');
  t.same(((system.json() as Bundle).entry ?? []).map((e) => e.resource!.id), ['cond'], 'POST [base]/_search with a form');
});

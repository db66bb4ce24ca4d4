/**
 * The benchmark's yardstick: a bare Fastify server holding JSON in a Map, with
 * the same routes and payloads as carnet but no FHIR work at all (no auth,
 * validation, indexing, journal). Started as a child process by scripts/bench.ts.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 25 * 1024 * 1024 });
app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
const store = new Map<string, string>();
/** patient|code -> ids: the "indexed search" the bare route is allowed. */
const byPatientCode = new Map<string, string[]>();

app.get<{ Params: { id: string } }>('/fhir/Observation/:id', async (request, reply) => {
  const json = store.get(request.params.id);
  if (!json) return reply.code(404).send({ resourceType: 'OperationOutcome' });
  return reply.type('application/fhir+json').send(json);
});

app.post('/fhir/Observation', async (request, reply) => {
  const resource: Record<string, unknown> & { id: string } = { ...(request.body as Record<string, unknown>), id: randomUUID(), meta: { versionId: '1', lastUpdated: new Date().toISOString() } };
  const json = JSON.stringify(resource);
  store.set(resource.id, json);
  const subject = (resource.subject as { reference?: string } | undefined)?.reference ?? '';
  const code = ((resource.code as { coding?: Array<{ system: string; code: string }> }).coding ?? []).map((c) => `${c.system}|${c.code}`)[0] ?? '';
  const key = `${subject}|${code}`;
  const list = byPatientCode.get(key) ?? [];
  list.push(resource.id);
  byPatientCode.set(key, list);
  return reply.code(201).type('application/fhir+json').header('location', `/fhir/Observation/${resource.id}`).send(json);
});

app.get<{ Querystring: { patient: string; code: string; _count?: string } }>('/fhir/Observation', async (request, reply) => {
  const ids = byPatientCode.get(`Patient/${request.query.patient}|${request.query.code}`) ?? [];
  const count = Number(request.query._count ?? 20);
  const entries = ids.slice(0, count).map((id) => `{"fullUrl":"/fhir/Observation/${id}","resource":${store.get(id)},"search":{"mode":"match"}}`);
  return reply.type('application/fhir+json').send(`{"resourceType":"Bundle","type":"searchset","entry":[${entries.join(',')}]}`);
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const address = app.server.address();
console.log(JSON.stringify({ msg: 'bare listening', port: typeof address === 'object' && address ? address.port : 0 }));

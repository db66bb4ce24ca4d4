import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Parameters, Resource, Subscription } from '@medplum/fhirtypes';
import { FhirError, ForbiddenError } from '../errors.js';
import { authorize, principalOf } from '../access/guard.js';
import type { Principal } from '../auth/principal.js';
import { checkTypeAndId } from '../store/repository.js';
import { acceptSubscription, compileCriteria } from '../space/subscriptions/criteria.js';
import { sameParty } from '../auth/principal.js';
import type { WriteResult } from '../store/repository.js';
import { isPatientSide } from '../space/documents/document-rules.js';
import { bodyResource, headerText, writeCheck } from './resource.js';
import { responseType, sendWriteResult } from './respond.js';
import { writeInTurn } from '../store/resource-turns.js';

/**
 * Subscriptions (R4): create and update go through here so the server records
 * who owns each Subscription (deliveries respect the owner's access) and
 * checks criteria and channel; reads, search and delete are the generic ones.
 * `GET /fhir/subscriptions/ws` is the websocket channel (`bind <id>` ->
 * `bound <id>`, then `ping <id>` per notification) and
 * `GET /fhir/Subscription/:id/$deliveries` the owner's delivery log.
 */
export const subscriptionRoutes: FastifyPluginAsync = async (app) => {
  const { repository, engine, config, subscriptions } = app;
  await app.register(websocket);

  /**
   * Who may subscribe: professionals' software and systems as for any create;
   * a patient's app (Subscriptions are outside any space) when it may search
   * the criteria's type, since each notification is then checked as a read.
   */
  async function authorizeSubscription(request: FastifyRequest, resource: Subscription, interaction: 'create' | 'update', id?: string): Promise<boolean> {
    const principal = principalOf(request);
    if (isPatientSide(principal)) {
      await authorize(request, 's', 'search-type', { resourceType: compileCriteria(resource.criteria).type }, { precheck: true });
      if (id) await checkOwner(principal, id);
      return false;
    }
    await authorize(request, interaction === 'create' ? 'c' : 'u', interaction, { resourceType: 'Subscription', id }, { precheck: true });
    if (id) await checkOwner(principal, id);
    return true;
  }

  async function checkOwner(principal: Principal, id: string): Promise<void> {
    const owner = await subscriptions.owner(id);
    if (owner && !sameParty(owner, principal)) throw notTheOwner();
  }

  /**
   * Writes Subscription/<id> as `principal`'s: the owner is recorded before
   * the write (a Subscription never exists without one, even after a crash)
   * and removed again if the write fails. Run in the Subscription's turn for
   * a PUT, so that of two callers writing a new id at once the second finds
   * the first's claim instead of both passing the check.
   */
  async function writeAsOwner(principal: Principal, id: string, write: () => Promise<WriteResult>): Promise<WriteResult> {
    const claim = await subscriptions.claimOwner(id, principal);
    if (claim === 'taken') throw notTheOwner();
    try {
      return await write();
    } catch (err) {
      if (claim === 'claimed') await subscriptions.releaseOwner(id, principal);
      throw err;
    }
  }

  app.post('/Subscription', async (request, reply) => {
    responseType(request);
    const body = bodyResource(request, 'Subscription') as Subscription;
    const policyChecked = await authorizeSubscription(request, body, 'create');
    const { id: _ignored, ...resource } = acceptSubscription(body);
    const id = repository.newResourceId();
    const result = await writeAsOwner(principalOf(request), id, () =>
      repository.create(resource as Resource, { id, ...(policyChecked ? { check: writeCheck(request, 'c', 'create') } : {}) }));
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  app.put<{ Params: { id: string } }>('/Subscription/:id', async (request, reply) => {
    const { id } = request.params;
    responseType(request);
    checkTypeAndId('Subscription', id);
    const body = bodyResource(request, 'Subscription') as Subscription;
    const policyChecked = await authorizeSubscription(request, body, 'update', id);
    const ifMatch = headerText(request.headers['if-match']);
    const result = await writeInTurn(repository.turns, 'Subscription', id, ifMatch, () => writeAsOwner(principalOf(request), id, async () => {
      const current = await engine.current('Subscription', id);
      const check = !current || current.deleted ? writeCheck(request, 'c', 'create') : writeCheck(request, 'u', 'update');
      return repository.update('Subscription', id, acceptSubscription(body) as Resource, { ifMatch, ...(policyChecked ? { check } : {}) });
    }));
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  app.get<{ Params: { id: string } }>('/Subscription/:id/$deliveries', async (request, reply) => {
    const { id } = request.params;
    const type = responseType(request);
    checkTypeAndId('Subscription', id);
    const principal = principalOf(request);
    const owner = await subscriptions.owner(id);
    if (!owner) await repository.read('Subscription', id);
    await checkOwner(principal, id);
    if (!owner) throw new ForbiddenError('This Subscription has no recorded owner', 'subscription-owner');
    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: (await subscriptions.deliveries(id)).map((d) => ({
        name: 'delivery',
        part: [
          { name: 'time', valueInstant: d.time },
          { name: 'focus', valueString: d.focus },
          { name: 'channel', valueCode: d.channel },
          { name: 'attempt', valueInteger: d.attempt },
          { name: 'outcome', valueCode: d.outcome },
          ...(d.status !== undefined ? [{ name: 'status', valueInteger: d.status }] : []),
          ...(d.error ? [{ name: 'error', valueString: d.error }] : []),
        ],
      })),
    };
    return reply.type(type).send(body);
  });

  app.route({
    method: 'GET',
    url: '/subscriptions/ws',
    // A plain GET (no Upgrade) is told what this endpoint is.
    handler: async () => {
      throw new FhirError('FHIR_ERR_HTTP_UPGRADE_REQUIRED', 426, 'not-supported', 'This is the websocket channel of Subscriptions: connect with Upgrade: websocket', { headers: { upgrade: 'websocket' } });
    },
    wsHandler: (socket, request) => {
      const principal = principalOf(request);
      socket.on('message', (data: Buffer) => {
        void (async () => {
          const text = data.toString('utf8').trim();
          const match = /^bind ([A-Za-z0-9\-.]{1,64})$/.exec(text);
          if (!match) {
            socket.send(`error unknown command (expected "bind <subscription id>")`);
            return;
          }
          const id = match[1]!;
          const owner = await subscriptions.owner(id);
          const current = await engine.current('Subscription', id);
          const sub = current && !current.deleted ? (JSON.parse(current.json) as Subscription) : undefined;
          if (!owner || !sub || !sameParty(owner, principal)) {
            socket.send(`error ${id} unknown Subscription or not yours`);
            return;
          }
          if (sub.channel?.type !== 'websocket') {
            socket.send(`error ${id} this Subscription's channel is not websocket`);
            return;
          }
          subscriptions.hub.bind(id, socket);
          socket.send(`bound ${id}`);
        })().catch((err: unknown) => request.log.error({ err }, 'websocket bind failed'));
      });
      socket.on('close', () => subscriptions.hub.unbindAll(socket));
    },
  });
};

function notTheOwner(): ForbiddenError {
  return new ForbiddenError('Only the owner of a Subscription may change it or read its deliveries', 'subscription-owner');
}

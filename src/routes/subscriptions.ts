import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Parameters, Resource, Subscription } from '@medplum/fhirtypes';
import { FhirError, ForbiddenError } from '../errors.js';
import { authorize, principalOf } from '../access/guard.js';
import { conditionalRestriction } from '../access/hidden-names.js';
import type { Principal } from '../auth/principal.js';
import { checkTypeAndId } from '../store/repository.js';
import { mayHaveLanded } from '../store/engine.js';
import type { VersionRecord } from '../store/engine.js';
import { acceptSubscription, compileCriteria } from '../space/subscriptions/criteria.js';
import { sameParty } from '../auth/principal.js';
import type { WriteResult } from '../store/repository.js';
import { isPatientSide } from '../space/documents/document-rules.js';
import { applyJsonPatch } from '../fhir/json-patch.js';
import { bodyResource, headerText, searchPairs, writeCheck } from './resource.js';
import { responseType, sendWriteResult } from './respond.js';
import { writeInTurn } from '../store/resource-turns.js';

/**
 * Subscriptions (R4): every write of one goes through here (create with or
 * without If-None-Exist, update, conditional update, patch), so that the
 * server records who owns each Subscription (deliveries respect the owner's
 * access) and checks criteria and channel the same way whichever the path;
 * a Bundle may not write one (store/bundle-processor.ts). Reads, search and
 * delete are the generic ones.
 * `GET /fhir/subscriptions/ws` is the websocket channel (`bind <id>` ->
 * `bound <id>`, then `ping <id>` per notification) and
 * `GET /fhir/Subscription/:id/$deliveries` the owner's delivery log.
 */
export const subscriptionRoutes: FastifyPluginAsync = async (app) => {
  const { repository, engine, config, subscriptions } = app;
  await app.register(websocket);
  const accept = (subscription: Subscription) => acceptSubscription(subscription, { allowPrivateEndpoints: config.subscriptionAllowPrivateEndpoints });

  /**
   * Who may subscribe: professionals' software and systems as for any create;
   * a patient's app (Subscriptions are outside any space) when it may search
   * the criteria's type, since each notification is then checked as a read.
   * Only the owner may change a Subscription (`id`: the one written, when known).
   */
  async function authorizeSubscription(request: FastifyRequest, resource: Subscription, interaction: 'create' | 'update' | 'patch', id?: string): Promise<boolean> {
    const principal = principalOf(request);
    if (isPatientSide(principal)) {
      await authorize(request, 's', 'search-type', { resourceType: compileCriteria(resource.criteria).type }, { precheck: true });
      if (id) await checkSubscriptionOwner(request, id);
      return false;
    }
    await authorize(request, interaction === 'create' ? 'c' : 'u', interaction, { resourceType: 'Subscription', id }, { precheck: true });
    if (id) await checkSubscriptionOwner(request, id);
    return true;
  }

  /**
   * Records `principal` as the owner of Subscription/<id> before it is
   * written (a Subscription never exists without one, even after a crash);
   * 403 when someone else owns it. Returns what undoes a new claim, for a
   * write that fails: the id is left free again.
   */
  async function claim(principal: Principal, id: string): Promise<(err?: unknown) => Promise<void>> {
    const claimed = await subscriptions.claimOwner(id, principal);
    if (claimed === 'taken') throw notTheOwner();
    // A write that may have landed keeps its owner: an owner without a Subscription is harmless, the reverse is not.
    return claimed === 'claimed' ? async (err) => { if (!mayHaveLanded(err)) await subscriptions.releaseOwner(id, principal); } : async () => undefined;
  }

  /**
   * Writes Subscription/<id> as `principal`'s. Run in the Subscription's
   * turn for a PUT or PATCH, so that of two callers writing a new id at once
   * the second finds the first's claim instead of both passing the check.
   * A conditional create that found a match leaves the id it claimed free.
   */
  async function writeAsOwner(principal: Principal, id: string, write: () => Promise<WriteResult>): Promise<WriteResult> {
    const undo = await claim(principal, id);
    let result: WriteResult;
    try {
      result = await write();
    } catch (err) {
      await undo(err);
      throw err;
    }
    if (result.record.id !== id) await undo();
    return result;
  }

  /** The policy's final word on the new version (not for a patient's app: see authorizeSubscription). */
  const checkFor = (request: FastifyRequest, policyChecked: boolean, created: boolean, interaction: 'update' | 'patch') =>
    policyChecked ? { check: created ? writeCheck(request, 'c', 'create') : writeCheck(request, 'u', interaction) } : {};

  app.post('/Subscription', async (request, reply) => {
    responseType(request);
    const body = bodyResource(request, 'Subscription') as Subscription;
    const policyChecked = await authorizeSubscription(request, body, 'create');
    const ifNoneExist = headerText(request.headers['if-none-exist']);
    if (ifNoneExist !== undefined) await authorize(request, 's', 'search-type', { resourceType: 'Subscription' }, { precheck: true });
    const { id: _ignored, ...resource } = accept(body);
    // Only what the caller may see can match: their own Subscriptions (system clients: any).
    const restrict = ifNoneExist !== undefined ? await conditionalRestriction(request) : undefined;
    const id = repository.newResourceId();
    const result = await writeAsOwner(principalOf(request), id, () =>
      repository.create(resource as Resource, { id, ifNoneExist, restrict, ...(policyChecked ? { check: writeCheck(request, 'c', 'create') } : {}) }));
    // The match is answered as a read of it: the policy's word, and the audit trail's.
    if (!result.created) await authorize(request, 'r', 'read', { resourceType: 'Subscription', id: result.record.id, record: result.record });
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
      return repository.update('Subscription', id, accept(body) as Resource, { ifMatch, ...checkFor(request, policyChecked, !current || current.deleted, 'update') });
    }));
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  // Conditional update (http.html#cond-update): as a PUT of the match, or a create when nothing matches.
  app.put('/Subscription', async (request, reply) => {
    responseType(request);
    const body = bodyResource(request, 'Subscription') as Subscription;
    await authorize(request, 's', 'search-type', { resourceType: 'Subscription' }, { precheck: true });
    const policyChecked = await authorizeSubscription(request, body, 'update');
    const principal = principalOf(request);
    // Each id claimed, by each attempt of the write (a redone attempt may claim another): all are
    // given back if the write fails, those it did not write if it succeeds.
    const claims = new Map<string, (err?: unknown) => Promise<void>>();
    let matched = false;
    let result: WriteResult;
    try {
      result = await repository.conditionalUpdate('Subscription', searchPairs(request), body, {
        ifMatch: headerText(request.headers['if-match']),
        restrict: await conditionalRestriction(request),
        ...(policyChecked ? { check: (record: VersionRecord) => writeCheck(request, matched ? 'u' : 'c', matched ? 'update' : 'create')(record) } : {}),
        rules: async (current, next) => {
          matched = current !== undefined;
          const accepted = accept(next as Subscription);
          const id = current?.id ?? accepted.id ?? repository.newResourceId();
          checkTypeAndId('Subscription', id);
          const undo = await claim(principal, id);
          if (!claims.has(id)) claims.set(id, undo);
          return { ...accepted, id } as Resource;
        },
      });
    } catch (err) {
      for (const undo of claims.values()) await undo(err);
      throw err;
    }
    for (const [id, undo] of claims) if (id !== result.record.id) await undo();
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  app.patch<{ Params: { id: string } }>('/Subscription/:id', async (request, reply) => {
    const { id } = request.params;
    responseType(request);
    checkTypeAndId('Subscription', id);
    if (!/^application\/json-patch\+json\b/i.test(request.headers['content-type'] ?? '')) {
      throw new FhirError('FHIR_ERR_HTTP_MEDIA_TYPE', 415, 'not-supported', 'PATCH needs Content-Type application/json-patch+json');
    }
    const principal = principalOf(request);
    // Before the patch applies: its `test` operations would otherwise tell another party what the Subscription says.
    if (!isPatientSide(principal)) await authorize(request, 'u', 'patch', { resourceType: 'Subscription', id }, { precheck: true });
    await checkSubscriptionOwner(request, id);
    const ifMatch = headerText(request.headers['if-match']);
    const result = await writeInTurn(repository.turns, 'Subscription', id, ifMatch, async () => {
      const current = await repository.read('Subscription', id);
      const patched = applyJsonPatch(JSON.parse(current.json) as Resource, request.body) as Subscription;
      // Then as a PUT of the patched Subscription: the same checks, and its owner kept.
      const policyChecked = await authorizeSubscription(request, patched, 'patch', id);
      return writeAsOwner(principal, id, () => repository.update('Subscription', id, accept(patched) as Resource, {
        ifMatch: ifMatch ?? `W/"${current.vid}"`, method: 'PATCH', ...checkFor(request, policyChecked, false, 'patch'),
      }));
    });
    return sendWriteResult(request, reply, engine, result, config.fhirBase);
  });

  app.get<{ Params: { id: string } }>('/Subscription/:id/$deliveries', async (request, reply) => {
    const { id } = request.params;
    const type = responseType(request);
    checkTypeAndId('Subscription', id);
    const principal = principalOf(request);
    const owner = await subscriptions.owner(id);
    if (!owner) await repository.read('Subscription', id);
    await checkSubscriptionOwner(request, id);
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

/**
 * Only the owner changes a Subscription or reads its deliveries. One stored
 * without an owner (written before owners were recorded on every path) is no
 * one's to take over: only a system client, which the policy lets change any,
 * writes it.
 */
export async function checkSubscriptionOwner(request: FastifyRequest, id: string): Promise<void> {
  const principal = principalOf(request);
  const owner = await request.server.subscriptions.owner(id);
  if (owner) {
    if (!sameParty(owner, principal)) throw notTheOwner();
    return;
  }
  if (principal.kind === 'system') return;
  const current = await request.server.engine.current('Subscription', id);
  if (current && !current.deleted) throw notTheOwner();
}

function notTheOwner(): ForbiddenError {
  return new ForbiddenError('Only the owner of a Subscription may change it or read its deliveries', 'subscription-owner');
}

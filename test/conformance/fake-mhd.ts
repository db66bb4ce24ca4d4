import type { Bundle, CapabilityStatementRestResource, DocumentReference, Resource } from '@medplum/fhirtypes';
import type { Test } from 'tap';
import { outcome, startFakeFhir } from './fake-fhir.js';
import type { FakeFhir } from './fake-fhir.js';

/**
 * A fake MHD Document Recipient and Responder, keeping what it stores in memory.
 * It refuses a Provide Document Bundle without a SubmissionSet (400) and accepts
 * the others. `identifierSearch` says how `DocumentReference?identifier=` behaves:
 * `honest` (masterIdentifier or identifier), `ignores-master` (identifier only, so
 * a document is never found by its unique id), `ignores-filter` (every document).
 * `attachmentBase` is where the stored attachment.url points (default: the fake's base).
 */
export interface FakeMhdOptions {
  identifierSearch?: 'honest' | 'ignores-master' | 'ignores-filter';
  attachmentBase?: string;
  /** The status of each entry of a transaction-response (default `201 Created`). */
  entryStatus?: string;
}

const MHD = 'https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD';

export async function startFakeMhd(t: Test, options: FakeMhdOptions = {}): Promise<FakeFhir> {
  const stored = new Map<string, Resource>();
  let next = 1;
  const store = (r: Resource): Resource => {
    const saved = { ...r, id: `${r.resourceType.toLowerCase()}${next++}`, meta: { ...r.meta, versionId: '1' } } as Resource;
    stored.set(`${saved.resourceType}/${saved.id}`, saved);
    return saved;
  };
  const all = (type: string): Resource[] => [...stored.values()].filter((r) => r.resourceType === type);
  const docs: CapabilityStatementRestResource = { type: 'DocumentReference', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'identifier', type: 'token' }] };
  return startFakeFhir(t, {
    instantiates: [`${MHD}.DocumentRecipient`, `${MHD}.DocumentResponder`],
    interactions: ['transaction'],
    resources: [
      { type: 'Patient', interaction: [{ code: 'read' }, { code: 'create' }, { code: 'search-type' }] },
      docs,
      { type: 'List', interaction: [{ code: 'read' }] },
      { type: 'Binary', interaction: [{ code: 'read' }] },
    ],
    handle: (req, fake) => {
      if (req.method === 'POST' && req.path === '/fhir/Patient') return { status: 201, body: store(req.json as Resource) };
      if (req.method === 'POST' && req.path === '/fhir') {
        const bundle = req.json as Bundle;
        const entries = bundle.entry ?? [];
        if (!entries.some((e) => e.resource?.resourceType === 'List')) return { status: 400, body: outcome('no SubmissionSet') };
        const ids = new Map<string, string>();
        const saved = entries.map((e) => {
          const r = store(e.resource!);
          ids.set(e.fullUrl ?? '', `${r.resourceType}/${r.id}`);
          return r;
        });
        for (const r of saved) {
          if (r.resourceType === 'DocumentReference') {
            const attachment = r.content[0]!.attachment;
            attachment.url = `${options.attachmentBase ?? fake.base}/${ids.get(attachment.url ?? '')}`;
          }
          if (r.resourceType === 'List') for (const e of r.entry ?? []) e.item.reference = ids.get(e.item.reference ?? '');
        }
        return {
          status: 200,
          body: { resourceType: 'Bundle', type: 'transaction-response', entry: saved.map((r) => ({ response: { status: options.entryStatus ?? '201 Created', location: `${r.resourceType}/${r.id}/_history/1` } })) },
        };
      }
      if (req.method === 'GET' && req.path === '/fhir/DocumentReference') {
        const [system, value] = (req.query.get('identifier') ?? '').split('|');
        const found = all('DocumentReference').filter((d) => {
          const doc = d as DocumentReference;
          if (options.identifierSearch === 'ignores-filter') return true;
          const ids = [...(options.identifierSearch === 'ignores-master' ? [] : [doc.masterIdentifier]), ...(doc.identifier ?? [])];
          return ids.some((i) => i?.system === system && i.value === value);
        });
        return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: found.map((resource) => ({ resource, search: { mode: 'match' } })) } };
      }
      const read = /^\/fhir\/([A-Za-z]+\/[^/]+)$/.exec(req.path);
      const hit = read && stored.get(read[1]!);
      if (req.method === 'GET' && hit) return { status: 200, body: hit };
      return undefined;
    },
  });
}

import t from 'tap';
import { AuditLogBuilder, auditLogSize, decodeAuditLog, eventIdOf } from '../../src/audit/audit-log-codec.js';
import type { AuditLogFrame, AuditLogFrameV2 } from '../../src/audit/audit-log-codec.js';
import { toAuditEvent } from '../../src/audit/audit-event.js';
import { toAuditRecord } from '../helpers/audit-records.js';
import type { AuditInput, AuditRecord } from '../../src/audit/audit-event.js';
import type { Principal } from '../../src/auth/principal.js';

const base = { scopes: [], scope: '', tokenId: 'jti', expiresAt: 0 };
const principals: Principal[] = [
  { ...base, kind: 'system', clientId: 'dpi-hopital', subject: 'dpi-hopital' },
  { ...base, kind: 'practitioner', clientId: 'lgc', subject: 'dr-martin', fhirUser: 'Practitioner/dr-martin' },
  { ...base, kind: 'app', clientId: 'rdv-app', subject: 'helene', fhirUser: 'RelatedPerson/helene', patient: 'leo' },
  { ...base, kind: 'admin', clientId: 'console', subject: 'Opérateur "Été"\n' },
];
const shapes: Array<Partial<AuditInput>> = [
  { action: 'r', interaction: 'read', resourceType: 'Observation', id: 'o1', compartments: ['Patient/alice'] },
  { action: 's', interaction: 'search-system', resourceType: 'Patient', compartments: [] },
  { action: 'c', interaction: 'create', resourceType: 'DocumentReference', id: 'd1', compartments: ['Patient/alice', 'Patient/leo'] },
  { action: 'u', interaction: 'update', resourceType: 'Consent', id: 'c1', compartments: ['Patient/leo'], allowed: false, rule: 'blocked', purpose: 'BTG', address: undefined },
  { action: 'e', interaction: 'operation', resourceType: 'Patient', compartments: ['Patient/alice'], address: '::1' },
];

const BATCH = '3f0c8a52-9d1e-4b7a-8c3e-5a6b7c8d9e0f';

/**
 * One batch of every principal and shape, filled as the trail fills it, and
 * the records it stands for (`toAuditRecord`, the form read back).
 */
function batch(copies = 1): { frame: AuditLogFrame; records: AuditRecord[] } {
  const builder = new AuditLogBuilder();
  const records: AuditRecord[] = [];
  for (let copy = 0; copy < copies; copy++) {
    for (const principal of principals) {
      for (const shape of shapes) {
        const n = records.length;
        const input: AuditInput = {
          principal, action: 'r', interaction: 'read', resourceType: 'Observation', compartments: [],
          allowed: true, rule: 'scope', reason: `granted by scope ${n % 2 ? 'system/*.rs' : 'patient/*.cruds'}`, requestId: `req-${n}`, address: '10.0.0.7', ...shape,
        };
        const recorded = Date.parse('2026-11-23T08:00:00.123Z') + n;
        const row = builder.add(input, recorded);
        const record = toAuditRecord(input, eventIdOf(BATCH, n), recorded);
        // Later decisions of the same request name more resources (once each).
        if (n % 3 === 0) {
          for (const more of ['Observation/o2', 'Patient/alice', 'Observation/o2', 'Observation/o1']) {
            builder.addResource(row, more);
            if (!record.resources.includes(more)) record.resources.push(more);
          }
        }
        records.push(record);
      }
    }
  }
  return { frame: builder.frame(BATCH), records };
}

function records(): AuditRecord[] {
  return batch().records;
}

t.test('a logged batch, stored as JSON and read back, gives the same records and the same AuditEvents', async (t) => {
  const { frame, records: original } = batch();
  const stored = JSON.parse(JSON.stringify(frame)) as unknown;
  const decoded = decodeAuditLog(stored);
  t.equal(auditLogSize(stored), original.length);
  t.strictSame(decoded, JSON.parse(JSON.stringify(original)), 'records survive the round trip (absent fields stay absent)');
  t.strictSame(decoded.map(toAuditEvent), original.map(toAuditEvent), 'the AuditEvents materialised from them are unchanged');
});

t.test('each row gets an AuditEvent id of its own, a UUID made from the batch\'s', async (t) => {
  const { records: many } = batch(50);
  const ids = many.map((r) => r.eventId);
  t.equal(new Set(ids).size, ids.length, `${ids.length} distinct ids`);
  t.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'every id is a version 4 UUID');
  t.equal(ids[0], '3f0c8a52-9d1e-4b7a-8c3e-5a6b7c8d9000');
  t.equal(ids[999], '3f0c8a52-9d1e-4b7a-8c3e-5a6b7c8d93e7');
});

t.test('a batch refuses more rows than its ids can number', async (t) => {
  const builder = new AuditLogBuilder();
  const input: AuditInput = { principal: principals[0]!, action: 'r', interaction: 'read', resourceType: 'Patient', id: 'p', compartments: [], allowed: true, rule: 'scope', reason: 'r', requestId: 'q' };
  for (let i = 0; i < 4096; i++) builder.add(input, i);
  t.throws(() => builder.add(input, 4096), /at most 4096 rows/);
});

t.test('batches logged in form 2 (event ids, epoch times and full references in each row) are still read', async (t) => {
  const v2: AuditLogFrameV2 = {
    v: 2,
    s: ['practitioner', 'lgc', 'dr-martin', 'Practitioner/dr-martin', 'r', 'read', 'Observation', 'Patient/alice', 'scope', 'granted', 'BTG', '::1'],
    r: [
      ['event-a', 1795486932934, 0, 1, 2, 3, 4, 5, 6, ['Observation/o1', 'Patient/alice'], [7], 1, 8, 9, 'req-1', 10, 11],
      ['event-b', 1795486932999, 0, 1, 2, -1, 4, 5, 6, [], [], 0, 8, 9, 'req-2', -1, -1],
    ],
  };
  const stored = JSON.parse(JSON.stringify(v2)) as unknown;
  t.equal(auditLogSize(stored), 2);
  t.strictSame(decodeAuditLog(stored), [
    { eventId: 'event-a', recorded: 1795486932934, who: { kind: 'practitioner', clientId: 'lgc', subject: 'dr-martin', fhirUser: 'Practitioner/dr-martin' }, action: 'r', interaction: 'read', resourceType: 'Observation',
      resources: ['Observation/o1', 'Patient/alice'], compartments: ['Patient/alice'], allowed: true, rule: 'scope', reason: 'granted', requestId: 'req-1', purpose: 'BTG', address: '::1' },
    { eventId: 'event-b', recorded: 1795486932999, who: { kind: 'practitioner', clientId: 'lgc', subject: 'dr-martin' }, action: 'r', interaction: 'read', resourceType: 'Observation',
      resources: [], compartments: [], allowed: false, rule: 'scope', reason: 'granted', requestId: 'req-2' },
  ]);
});

t.test('batches logged as plain record arrays (the earlier form) are still read', async (t) => {
  const original = JSON.parse(JSON.stringify(records())) as AuditRecord[];
  t.equal(auditLogSize(original), original.length);
  t.strictSame(decodeAuditLog(original), original);
});

t.test('the shared strings are stored once per batch', async (t) => {
  const { frame, records: many } = batch(50);
  const compact = JSON.stringify(frame);
  t.ok(compact.length < JSON.stringify(many).length / 3, `${compact.length} bytes against ${JSON.stringify(many).length} as objects`);
  t.equal(compact.split('granted by scope system/*.rs').length - 1, 1, 'a reason repeated by every other record appears once');
});

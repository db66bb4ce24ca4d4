import t from 'tap';
import { AuditLogBuilder, auditLogSize, decodeAuditLog } from '../../src/audit/audit-log-codec.js';
import type { AuditLogFrame } from '../../src/audit/audit-log-codec.js';
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
        const record = toAuditRecord(input, `event-${n}`, recorded);
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
  let event = 0;
  return { frame: builder.frame(() => `event-${event++}`), records };
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

t.test('batches logged as plain record arrays (the earlier form) are still read', async (t) => {
  const original = JSON.parse(JSON.stringify(records())) as AuditRecord[];
  t.equal(auditLogSize(original), original.length);
  t.strictSame(decodeAuditLog(original), original);
});

t.test('the shared strings are stored once per batch', async (t) => {
  const { frame, records: many } = batch(50);
  const compact = JSON.stringify(frame);
  t.ok(compact.length < JSON.stringify(many).length / 2, `${compact.length} bytes against ${JSON.stringify(many).length} as objects`);
  t.equal(compact.split('granted by scope system/*.rs').length - 1, 1, 'a reason repeated by every other record appears once');
});

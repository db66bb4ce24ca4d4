import t from 'tap';
import { notification, toAuditEvent } from '../../src/audit/audit-event.js';
import { toAuditRecord } from '../helpers/audit-records.js';
import { validateResource } from '../../src/fhir/validation/validate.js';
import type { Principal } from '../../src/auth/principal.js';

// The audit trail writes its AuditEvents and notifications without validating
// them on the hot path: this test is what keeps their shape valid R4.
const practitioner: Principal = {
  kind: 'practitioner', clientId: 'dpi', subject: 'acct-1', scopes: [], scope: 'user/*.rs', fhirUser: 'Practitioner/dr-martin', tokenId: 'j1', expiresAt: 0,
};
const app: Principal = { ...practitioner, kind: 'app', clientId: 'mesures', fhirUser: 'Patient/helene', patient: 'helene' };
const system: Principal = { ...practitioner, kind: 'system', fhirUser: undefined };

t.test('every AuditEvent the trail builds is valid R4', async (t) => {
  for (const [principal, allowed, purpose] of [[practitioner, true, 'BTG'], [app, false, undefined], [system, true, undefined]] as const) {
    const record = toAuditRecord({
      principal, action: 'r', interaction: 'read', resourceType: 'Observation', id: 'o1', compartments: ['Patient/helene'],
      allowed, rule: 'test', reason: 'because', purpose, requestId: 'req-1', address: '127.0.0.1',
    }, 'ae-1', Date.parse('2026-11-23T10:00:00.000Z'));
    // The compact record is what the audit log keeps: it must survive a JSON round trip unchanged.
    const event = toAuditEvent(JSON.parse(JSON.stringify(record)) as typeof record);
    const errors = validateResource(event).filter((i) => i.severity === 'error');
    t.same(errors, [], `${principal.kind} ${allowed ? 'allowed' : 'refused'}`);
    t.equal(event.outcome, allowed ? '0' : '4');
    t.equal(event.id, 'ae-1');
    t.equal(event.recorded, '2026-11-23T10:00:00.000Z');
    t.same(event.entity?.map((e) => e.what?.reference), ['Observation/o1', 'Patient/helene']);
  }
});

t.test('notifications are valid R4 Communications', async (t) => {
  const note = notification('Patient/helene', ['Patient/helene', 'Practitioner/dr-martin'], 'emergency-access', 'Accès en urgence', '2026-11-23T10:00:00.000Z');
  t.same(validateResource(note).filter((i) => i.severity === 'error'), []);
});

import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { auditEventIndex } from '../../src/audit/audit-event-index.js';
import { toAuditEvent } from '../../src/audit/audit-event.js';
import { toAuditRecord } from '../helpers/audit-records.js';
import type { AuditInput } from '../../src/audit/audit-event.js';
import type { Principal } from '../../src/auth/principal.js';
import { extractIndex } from '../../src/fhir/search/extract.js';
import { registerSearchParameter } from '../../src/fhir/search/params.js';

const base = { scopes: [], scope: '', tokenId: 'jti', expiresAt: 0 };
const principals: Principal[] = [
  { ...base, kind: 'system', clientId: 'dpi-hopital', subject: 'dpi-hopital' },
  { ...base, kind: 'practitioner', clientId: 'lgc', subject: 'dr-martin', fhirUser: 'Practitioner/dr-martin' },
  { ...base, kind: 'patient', clientId: 'mes', subject: 'alice', fhirUser: 'Patient/alice', patient: 'alice' },
  { ...base, kind: 'app', clientId: 'rdv-app', subject: 'alice', fhirUser: 'Patient/alice', patient: 'alice' },
  { ...base, kind: 'app', clientId: 'rdv-app', subject: 'helene', fhirUser: 'RelatedPerson/helene', patient: 'leo' },
  { ...base, kind: 'related-person', clientId: 'mes', subject: 'helene', fhirUser: 'RelatedPerson/helene', patient: 'leo' },
  { ...base, kind: 'admin', clientId: 'console', subject: 'Opérateur Été' },
];
const shapes: Array<Partial<AuditInput>> = [
  { action: 'r', interaction: 'read', resourceType: 'Observation', id: 'o1', compartments: ['Patient/alice'] },
  { action: 'r', interaction: 'read', resourceType: 'Patient', id: 'alice', compartments: ['Patient/alice'] },
  { action: 's', interaction: 'search-type', resourceType: 'Observation', compartments: ['Patient/alice'] },
  { action: 's', interaction: 'search-system', resourceType: 'Patient', compartments: [] },
  { action: 'c', interaction: 'create', resourceType: 'DocumentReference', id: 'd1', compartments: ['Patient/alice', 'Patient/leo'] },
  { action: 'u', interaction: 'update', resourceType: 'Consent', id: 'c1', compartments: ['Patient/leo'], allowed: false, rule: 'blocked', purpose: 'BTG' },
  { action: 'd', interaction: 'delete', resourceType: 'DocumentReference', id: 'd2', compartments: ['Patient/alice'], address: '::1' },
  { action: 'e', interaction: 'operation', resourceType: 'Patient', compartments: ['Patient/alice'], address: 'Poste ÉTÉ  12' },
];

t.test('the AuditEvent index built from the record equals the generic extraction of the resource', async (t) => {
  let checked = 0;
  for (const principal of principals) {
    for (const shape of shapes) {
      const input: AuditInput = {
        principal, action: 'r', interaction: 'read', resourceType: 'Observation', compartments: [],
        allowed: true, rule: 'scope', reason: 'scope system/*.rs', requestId: `req-${checked}`, address: '10.0.0.7', ...shape,
      };
      const record = toAuditRecord(input, `event-${checked}`, Date.parse('2026-11-23T08:00:00.123Z') + checked);
      if (checked % 3 === 0) record.resources.push('Observation/o2', 'Patient/alice');
      // As the repository stores it: the server's meta fields added to the event's own (its tag).
      const event = toAuditEvent(record);
      const stored = { ...event, meta: { ...event.meta, versionId: '1', lastUpdated: '2026-11-23T08:00:01.000Z' } } as Resource;
      t.strictSame(auditEventIndex(record), extractIndex(stored), `${principal.kind} ${principal.fhirUser ?? ''} ${input.interaction} ${record.resources.join(',')}`);
      checked++;
    }
  }
  t.equal(checked, principals.length * shapes.length);
});

t.test('a SearchParameter added on AuditEvent makes the record-built index step aside for the generic one', async (t) => {
  const record = toAuditRecord({
    principal: principals[1]!, action: 'r', interaction: 'read', resourceType: 'Observation', id: 'o1', compartments: ['Patient/alice'],
    allowed: true, rule: 'scope', reason: 'scope', requestId: 'req-x', purpose: 'BTG',
  }, 'event-x', Date.parse('2026-11-23T08:00:00.000Z'));
  t.ok(auditEventIndex(record), 'the known parameters: built from the record');
  // Registered last in this file: it changes AuditEvent's parameters for the rest of the process.
  registerSearchParameter({
    resourceType: 'SearchParameter', url: 'https://carnet.dev/fhir/SearchParameter/AuditEvent-purpose', name: 'purpose', status: 'active',
    description: 'Purpose of the access', code: 'purpose', base: ['AuditEvent'], type: 'token', expression: 'AuditEvent.purposeOfEvent',
  });
  t.equal(auditEventIndex(record), undefined, 'an unknown parameter: the caller extracts as for any resource');
  const stored = { ...toAuditEvent(record), meta: { versionId: '1', lastUpdated: '2026-11-23T08:00:01.000Z' } } as Resource;
  t.match(extractIndex(stored).idx.purpose, [{ c: 'BTG' }], 'and the new parameter is indexed');
});

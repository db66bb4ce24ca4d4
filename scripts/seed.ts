/**
 * `npm run seed`: loads a small demo health space into DATA_DIR (the server
 * must be stopped: the data directory is locked while it runs). Everything
 * goes through the real server in-process (validation, indexing, policy for
 * the system client), then accounts and a referenced demo app are added, and
 * the script prints a ready-to-use SMART standalone launch.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { VISIBILITY_SYSTEM } from '../src/access/labels.js';

const DEMO_PASSWORD = 'carnet-demo-2026';
const DEMO_APP = { clientId: 'demo-app', redirectUri: 'http://localhost:5555/callback' };
const LOINC = 'http://loinc.org';
const INS_NIR_TEST = 'urn:oid:1.2.250.1.213.1.4.10';

function entry(resource: Resource): BundleEntry {
  return { resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } };
}

function pdf(text: string): { data: string; size: number; hash: string } {
  const bytes = Buffer.from(`%PDF-1.4\n% ${text}\n%%EOF\n`);
  return { data: bytes.toString('base64'), size: bytes.length, hash: createHash('sha1').update(bytes).digest('base64') };
}

function demoBundle(): Bundle {
  const report = pdf('Compte rendu de consultation - Hélène Durand');
  const vaccination = pdf('Note de vaccination - Léo Durand');
  const resources: Resource[] = [
    { resourceType: 'Practitioner', id: 'dr-martin', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810000000001' }], name: [{ family: 'Martin', given: ['Claire'], prefix: ['Dr'] }] },
    { resourceType: 'Practitioner', id: 'dr-petit', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810000000002' }], name: [{ family: 'Petit', given: ['Karim'], prefix: ['Dr'] }] },
    {
      resourceType: 'Patient', id: 'helene', identifier: [{ system: INS_NIR_TEST, value: '280027512345678' }],
      name: [{ family: 'Durand', given: ['Hélène'] }], gender: 'female', birthDate: '1980-02-14', generalPractitioner: [{ reference: 'Practitioner/dr-martin' }],
    },
    {
      resourceType: 'Patient', id: 'leo', identifier: [{ system: INS_NIR_TEST, value: '115047512345612' }],
      name: [{ family: 'Durand', given: ['Léo'] }], gender: 'male', birthDate: '2015-04-03', generalPractitioner: [{ reference: 'Practitioner/dr-martin' }],
    },
    {
      resourceType: 'RelatedPerson', id: 'helene-parent-of-leo', patient: { reference: 'Patient/leo' }, active: true,
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH', display: 'mother' }] }],
      name: [{ family: 'Durand', given: ['Hélène'] }],
    },
    {
      resourceType: 'Observation', id: 'helene-weight', status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }] }, subject: { reference: 'Patient/helene' },
      effectiveDateTime: '2026-10-02T08:30:00+02:00', valueQuantity: { value: 61.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    },
    {
      resourceType: 'Observation', id: 'helene-bp', status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }] }, subject: { reference: 'Patient/helene' },
      effectiveDateTime: '2026-10-02T08:31:00+02:00',
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 121, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 78, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      ],
    },
    {
      resourceType: 'AllergyIntolerance', id: 'helene-penicillin', patient: { reference: 'Patient/helene' },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      code: { text: 'Pénicilline / Penicillin' }, criticality: 'high',
    },
    {
      resourceType: 'Appointment', id: 'helene-appointment', status: 'booked', description: 'Consultation de suivi / follow-up',
      start: '2026-12-03T09:00:00+01:00', end: '2026-12-03T09:20:00+01:00',
      participant: [{ actor: { reference: 'Patient/helene' }, status: 'accepted' }, { actor: { reference: 'Practitioner/dr-martin' }, status: 'accepted' }],
    },
    {
      resourceType: 'Communication', id: 'helene-message', status: 'completed', subject: { reference: 'Patient/helene' },
      sender: { reference: 'Practitioner/dr-martin' }, recipient: [{ reference: 'Patient/helene' }], sent: '2026-10-03T10:00:00+02:00',
      payload: [{ contentString: 'Bonjour, vos résultats sont normaux. / Hello, your results are normal.' }],
    },
    // securityContext places the bytes in the document's space (as ITI-65 does): whoever may read the document reads them.
    { resourceType: 'Binary', id: 'helene-report-pdf', contentType: 'application/pdf', securityContext: { reference: 'DocumentReference/helene-report' }, data: report.data },
    {
      resourceType: 'DocumentReference', id: 'helene-report', status: 'current',
      masterIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.250.1.999.1.1.1' },
      type: { coding: [{ system: LOINC, code: '11488-4', display: 'Consultation note' }] },
      category: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument', code: '10', display: 'Compte rendu' }] }],
      subject: { reference: 'Patient/helene' }, author: [{ reference: 'Practitioner/dr-martin' }], date: '2026-10-02T09:00:00+02:00',
      securityLabel: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] }],
      content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/helene-report-pdf', size: report.size, hash: report.hash, title: 'Compte rendu' }, format: { system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode', code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient' } }],
    },
    { resourceType: 'Binary', id: 'leo-vaccination-pdf', contentType: 'application/pdf', securityContext: { reference: 'DocumentReference/leo-vaccination' }, data: vaccination.data },
    {
      resourceType: 'DocumentReference', id: 'leo-vaccination', status: 'current',
      masterIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.250.1.999.1.1.2' },
      type: { coding: [{ system: LOINC, code: '87273-9', display: 'Immunization note' }] },
      subject: { reference: 'Patient/leo' }, author: [{ reference: 'Practitioner/dr-martin' }], date: '2026-09-15T14:00:00+02:00',
      securityLabel: [{ coding: [{ system: VISIBILITY_SYSTEM, code: 'INVISIBLE_REPRESENTANTS_LEGAUX', display: 'Non visible par les représentants légaux' }] }],
      content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/leo-vaccination-pdf', size: vaccination.size, hash: vaccination.hash } }],
    },
  ];
  return { resourceType: 'Bundle', type: 'transaction', entry: resources.map(entry) };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env, { logLevel: 'warn' });
  const app = await buildServer({ config, logger: { level: 'warn' } });
  await app.ready();
  try {
    const auth = app.carnetAuth;
    const dev = auth.clients.all().find((c) => c.kind === 'system');
    if (!dev) throw new Error('no system client is registered');
    // The system client's token, minted by the server's own token service (no HTTP needed in-process).
    const token = await auth.accessTokens.issue({ clientId: dev.clientId, subject: dev.clientId, scope: 'system/*.cruds', kind: 'system' });
    const res = await app.inject({ method: 'POST', url: '/fhir', headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/fhir+json' }, payload: JSON.stringify(demoBundle()) });
    if (res.statusCode !== 200) throw new Error(`demo data refused (${res.statusCode}): ${res.body.slice(0, 2000)}`);

    const accounts: Array<Parameters<typeof auth.accounts.create>[0]> = [
      { username: 'helene', password: DEMO_PASSWORD, kind: 'patient', fhirUser: 'Patient/helene', patients: ['helene'], displayName: 'Hélène Durand' },
      { username: 'helene.parent', password: DEMO_PASSWORD, kind: 'related-person', fhirUser: 'RelatedPerson/helene-parent-of-leo', patients: ['leo'], displayName: 'Hélène Durand (mère de Léo)' },
      { username: 'dr.martin', password: DEMO_PASSWORD, kind: 'practitioner', fhirUser: 'Practitioner/dr-martin', patients: ['helene', 'leo'], displayName: 'Dr Claire Martin' },
      { username: 'dr.petit', password: DEMO_PASSWORD, kind: 'practitioner', fhirUser: 'Practitioner/dr-petit', patients: [], displayName: 'Dr Karim Petit' },
    ];
    for (const account of accounts) {
      if (!(await auth.accounts.findByUsername(account.username))) await auth.accounts.create(account);
    }
    if (!(await auth.catalogue.get(DEMO_APP.clientId))) {
      await auth.catalogue.register({
        clientId: DEMO_APP.clientId, name: 'Demo app', description: 'A public demo app reading vital signs, for the README walkthrough',
        redirectUris: [DEMO_APP.redirectUri], tokenEndpointAuthMethod: 'none',
        scope: 'launch/patient openid fhirUser offline_access patient/*.rs patient/DocumentReference.cruds',
      });
    }
    await auth.catalogue.setStatus(DEMO_APP.clientId, 'referenced');

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorizeUrl = `${config.publicUrl}/auth/authorize?` + new URLSearchParams({
      response_type: 'code', client_id: DEMO_APP.clientId, redirect_uri: DEMO_APP.redirectUri,
      scope: 'launch/patient openid fhirUser patient/Observation.rs', state: 'demo', aud: config.fhirBase,
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    console.log(`Demo space loaded into ${config.dataDir}.
Accounts (password ${DEMO_PASSWORD}): helene (patient), helene.parent (legal representative of Léo), dr.martin (regular doctor), dr.petit (another professional).
Referenced demo app: ${DEMO_APP.clientId} (public client, redirect ${DEMO_APP.redirectUri}).

Standalone launch, once the server runs (npm start):
1. Open in a browser:
   ${authorizeUrl}
2. Sign in as helene, approve. The browser lands on ${DEMO_APP.redirectUri}?code=...&state=demo (nothing listens there: copy the code from the address bar).
3. Exchange the code:
   curl -s ${config.publicUrl}/auth/token -d grant_type=authorization_code -d client_id=${DEMO_APP.clientId} \\
     -d redirect_uri=${DEMO_APP.redirectUri} -d code_verifier=${verifier} -d code=PASTE_CODE_HERE
4. Read her vital signs with the access_token:
   curl -s -H "Authorization: Bearer ACCESS_TOKEN" '${config.fhirBase}/Observation?patient=helene&category=vital-signs'`);
  } finally {
    await app.close();
  }
}

main().catch((err: unknown) => {
  console.error(`seed failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Bundle } from '@medplum/fhirtypes';

/** A 20-entry transaction: one Patient and 19 Observations referring to it by urn:uuid. */
export function transactionBundle(): Bundle {
  const patientUrl = `urn:uuid:${randomUUID()}`;
  return {
    resourceType: 'Bundle', type: 'transaction',
    entry: [
      { fullUrl: patientUrl, resource: { resourceType: 'Patient', name: [{ family: 'Martin', given: ['Zoé'] }] }, request: { method: 'POST', url: 'Patient' } },
      ...Array.from({ length: 19 }, (_, i) => ({
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: {
          resourceType: 'Observation' as const, status: 'final' as const,
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
          subject: { reference: patientUrl },
          effectiveDateTime: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
          valueQuantity: { value: 60 + i, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
        },
        request: { method: 'POST' as const, url: 'Observation' },
      })),
    ],
  };
}

/** Validated 20-entry transactions per second against a running carnet. */
export async function benchTransactions(base: string, headers: Record<string, string>, seconds: number, connections: number): Promise<{ bundlesPerSecond: number; p99: number; errors: number }> {
  const pool = new Pool(base, { connections });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await pool.request({ path: '/fhir', method: 'POST', headers: { ...headers, 'content-type': 'application/fhir+json' }, body: JSON.stringify(transactionBundle()) });
      await res.body.text();
      latencies.push(performance.now() - t0);
      if (res.statusCode !== 200) errors++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { bundlesPerSecond: (latencies.length - errors) / elapsed, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0, errors };
}

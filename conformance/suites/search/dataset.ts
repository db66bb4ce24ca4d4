import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { CheckContext } from '../../runner/check-context.js';
import { fixture } from '../../runner/suite.js';
import { createResource, FIXTURE_ID_SYSTEM, sampleHeartRate, samplePatient, sampleWeight, uniqueFamily, uniqueIns } from '../fhir-helpers.js';

/**
 * The search suite's data: two Patients sharing a unique family-name prefix,
 * and their Observations. Every query is scoped by that prefix or by one of
 * those Patients, so other data on the server cannot match.
 */
export interface SearchDataset {
  prefix: string;
  alpha: Patient;
  beta: Patient;
  alphaIns: string;
  /** alpha: weight 72 kg on 2024-01-10, heart rate 60/min on 2024-03-01, weight 75 kg on 2024-06-10; beta: weight 80 kg on 2024-02-15. */
  weightJan: Observation;
  heartMar: Observation;
  weightJun: Observation;
  betaWeight: Observation;
  all: Resource[];
}

export interface SearchState {
  dataset: (ctx: CheckContext) => Promise<SearchDataset>;
}

export function createSearchState(): SearchState {
  return {
    dataset: fixture(async (ctx) => {
      ctx.requireInteraction('Patient', 'create');
      ctx.requireInteraction('Observation', 'create');
      const prefix = uniqueFamily(ctx);
      const alphaIns = uniqueIns();
      const alpha = await createResource(ctx, samplePatient(ctx, {
        identifier: [{ system: FIXTURE_ID_SYSTEM, value: alphaIns }],
        name: [{ family: `${prefix}Alpha`, given: ['Élodie'] }],
        gender: 'female',
        birthDate: '1980-05-12',
        address: [{ city: 'Saint-Étienne', postalCode: '42000', country: 'FR' }],
      }));
      const beta = await createResource(ctx, samplePatient(ctx, {
        name: [{ family: `${prefix}Beta`, given: ['Marc'] }],
        gender: 'male',
        birthDate: '1995-01-01',
        address: [{ city: 'Lyon', postalCode: '69001', country: 'FR' }],
      }));
      const a = `Patient/${alpha.id}`;
      const weightJan = await createResource(ctx, sampleWeight(ctx, a, 72, '2024-01-10'));
      const heartMar = await createResource(ctx, sampleHeartRate(ctx, a, 60, '2024-03-01'));
      const weightJun = await createResource(ctx, sampleWeight(ctx, a, 75, '2024-06-10'));
      const betaWeight = await createResource(ctx, sampleWeight(ctx, `Patient/${beta.id}`, 80, '2024-02-15'));
      return { prefix, alpha, beta, alphaIns, weightJan, heartMar, weightJun, betaWeight, all: [alpha, beta, weightJan, heartMar, weightJun, betaWeight] };
    }),
  };
}

import type { CapabilityStatement } from '@medplum/fhirtypes';

export type SuiteId = 'rest' | 'search' | 'smart' | 'mhd' | 'space';
export const SUITE_IDS: readonly SuiteId[] = ['rest', 'search', 'smart', 'mhd', 'space'];

/** How bad a failed check is: `error` for SHALL requirements, `warning` for SHOULD. */
export type Severity = 'error' | 'warning';
/**
 * `failed`: the server does not meet the requirement; `errored`: the check could
 * not reach a verdict (no whole answer before the deadline, a network error, a
 * credential refused during the run, an exception in the kit).
 */
export type Outcome = 'passed' | 'failed' | 'errored' | 'skipped';

/** One published requirement a check verifies, quoted so a report reader needs no spec at hand. */
export interface Requirement {
  id: string;
  spec: string;
  section: string;
  url: string;
  text: string;
}

/** The SMART discovery document, as far as the kit reads it. */
export interface SmartConfiguration {
  issuer?: string;
  jwks_uri?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  token_endpoint_auth_signing_alg_values_supported?: string[];
  grant_types_supported?: string[];
  scopes_supported?: string[];
  response_types_supported?: string[];
  capabilities?: string[];
  code_challenge_methods_supported?: string[];
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  management_endpoint?: string;
  registration_endpoint?: string;
  [key: string]: unknown;
}

/** What the kit learnt about the server before running any check. */
export interface Target {
  base: string;
  /** Always there: a base without one stops the run (`TargetUnavailable`). */
  capabilityStatement: CapabilityStatement;
  smartConfiguration?: SmartConfiguration;
  smartConfigurationError?: string;
  tokenEndpoint?: string;
}

/** One HTTP request the kit sent and what came back, kept for failure reports. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  error?: string;
}

export interface CheckResult {
  suite: SuiteId;
  id: string;
  title: string;
  requirement: Requirement;
  severity: Severity;
  outcome: Outcome;
  message?: string;
  notes: string[];
  /**
   * What of the requirement the check did not verify, and why (not for a
   * skipped check, which verified nothing): a pass says nothing about these.
   */
  notChecked?: string[];
  exchanges: Exchange[];
  durationMs: number;
}

export interface SuiteResult {
  id: SuiteId;
  title: string;
  spec: string;
  checks: CheckResult[];
  startedAt: string;
  durationMs: number;
}

export interface RunResult {
  base: string;
  runId: string;
  startedAt: string;
  durationMs: number;
  suites: SuiteResult[];
  kitVersion: string;
}

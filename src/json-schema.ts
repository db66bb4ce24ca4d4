import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

let ajv: Ajv | undefined;

/**
 * Compiles one of carnet's own JSON Schemas (configuration, clients file,
 * catalogue registrations), with every error reported. Our schemas are fixed
 * and tested, so ajv is not asked to check them against the JSON Schema
 * meta-schema: compiling that meta-schema cost about 45 ms at each of the
 * first compiles, which happen at start-up. The FHIR schemas are precompiled
 * at build time instead (scripts/build-validators.ts).
 */
export function compileOwnSchema<T>(schema: object): ValidateFunction<T> {
  ajv ??= new Ajv({ allErrors: true, validateSchema: false, meta: false });
  return ajv.compile<T>(schema);
}

/** ajv's errors as one line each: `/path message`. */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

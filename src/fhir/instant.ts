import { BadRequestError } from '../errors.js';

const DATE_TIME = /^(\d{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$/;

/**
 * A FHIR date, dateTime or instant given as a parameter (`_since`, `_at`) to
 * epoch milliseconds, at the start of its precision. 400 naming the parameter
 * when it is not one.
 */
export function parseInstant(value: string, parameter: string): number {
  const match = DATE_TIME.exec(value);
  const ms = match ? Date.parse(value.length === 4 ? `${value}-01-01T00:00:00Z` : value.length === 7 ? `${value}-01T00:00:00Z` : value.length === 10 ? `${value}T00:00:00Z` : value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new BadRequestError('FHIR_ERR_REST_BAD_DATE', `${parameter} must be a FHIR instant such as 2024-03-01T10:00:00Z, not "${value.slice(0, 40)}"`, { expression: [parameter] });
  }
  return ms;
}

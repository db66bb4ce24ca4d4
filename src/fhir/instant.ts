import { BadRequestError } from '../errors.js';
import { dateRange } from './search/normalize.js';

const DATE_TIME = /^(\d{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$/;

/**
 * A FHIR date, dateTime or instant given as a parameter (`_since`, `_at`) to
 * epoch milliseconds, at the start of its precision. 400 naming the parameter
 * when it is not one.
 */
export function parseInstant(written: string, parameter: string): number {
  const value = withPlus(written);
  const match = DATE_TIME.exec(value);
  const ms = match ? Date.parse(value.length === 4 ? `${value}-01-01T00:00:00Z` : value.length === 7 ? `${value}-01T00:00:00Z` : value.length === 10 ? `${value}T00:00:00Z` : value) : Number.NaN;
  if (Number.isNaN(ms)) throw badDate(written, parameter);
  return ms;
}

/** A `+` offset written unencoded in a query string arrives as a space (search date parameters take it too). */
function withPlus(value: string): string {
  return value.replace(/ (\d{2}:\d{2})$/, '+$1');
}

/** A closed range of epoch milliseconds. */
export interface Period {
  start: number;
  end: number;
}

/**
 * A FHIR date or dateTime given as a parameter (`_at`) to the period its
 * precision covers, as search date parameters read them (search/normalize.ts):
 * `2024` is the whole year, `2024-03-01` the whole day (UTC),
 * `2024-03-01T10:00:00+01:00` that one second. 400 naming the parameter when
 * it is not one.
 */
export function parsePeriod(written: string, parameter: string): Period {
  const value = withPlus(written);
  const range = DATE_TIME.test(value) ? dateRange(value) : undefined;
  if (!range) throw badDate(written, parameter);
  return { start: range.lo, end: range.hi };
}

function badDate(value: string, parameter: string): BadRequestError {
  return new BadRequestError('FHIR_ERR_REST_BAD_DATE', `${parameter} must be a FHIR date or instant such as 2024-03-01 or 2024-03-01T10:00:00Z, not "${value.slice(0, 40)}"`, { expression: [parameter] });
}

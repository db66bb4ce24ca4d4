import { BadRequestError } from '../errors.js';

/**
 * The preconditions of HTTP (RFC 9110 §13.1) as FHIR versions meet them: a
 * version's ETag is `W/"<versionId>"`, compared weakly, so `W/"3"`, `"3"` and
 * a bare `3` (which HAPI accepts too) all name version 3.
 */

/** `*` (any current version), or the versionIds an `If-Match` / `If-None-Match` list names. */
export type EntityTags = '*' | readonly string[];

// One member of the list: W/"x", "x", or a bare token; then a comma or the end.
const MEMBER = /\s*(?:(?:W\/)?"([^"]*)"|([^\s",]+))\s*(?:,|$)/y;

/**
 * The entity tags of a header (a list, RFC 9110 §13.1.1), or undefined when
 * it is no such list (an unclosed quote, nothing at all).
 */
export function parseEntityTags(header: string): EntityTags | undefined {
  const text = header.trim();
  if (text === '*') return '*';
  if (text === '') return undefined;
  const tags: string[] = [];
  MEMBER.lastIndex = 0;
  while (MEMBER.lastIndex < text.length) {
    const start = MEMBER.lastIndex;
    const match = MEMBER.exec(text);
    if (!match || MEMBER.lastIndex === start) return undefined;
    // `*` belongs alone, but a list naming it asks for any version all the same.
    if (match[2] === '*') return '*';
    tags.push(match[1] ?? match[2]!);
  }
  return tags.length > 0 ? tags : undefined;
}

/**
 * The tags of a write's `If-Match` or `If-None-Match`: a 400 when the header
 * is no list of ETags nor `*` (a conditional read ignores such a header
 * instead, RFC 9110 §13.1.2).
 */
export function requireEntityTags(header: string, name: 'If-Match' | 'If-None-Match'): EntityTags {
  const tags = parseEntityTags(header);
  if (tags === undefined) throw new BadRequestError('FHIR_ERR_HTTP_BAD_PRECONDITION', `${name} ${header.trim().slice(0, 80)} is not a list of ETags (W/"<versionId>") nor *`);
  return tags;
}

/** Whether the tags name this version (`*` names any). */
export function namesVersion(tags: EntityTags, vid: number): boolean {
  return tags === '*' || tags.includes(String(vid));
}

// IMF-fixdate, RFC 850 and asctime: the three forms RFC 9110 §5.6.7 has recipients read.
const HTTP_DATE = /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * The time an HTTP-date names, in ms, or undefined when the text is none:
 * such a date is ignored (RFC 9110 §13.1.3, §13.1.4), an ISO date included.
 */
export function httpDateMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (!HTTP_DATE.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : ms;
}

import type { ExtractedIndex } from '../fhir/search/extract.js';
import type { IndexValue, SearchIndex, SortKeys } from '../fhir/search/index-types.js';

/**
 * A version's search index as the JSON text `{"idx":{...},"srt":{...},"comp":[...]}`
 * (what a write worker sends back, and what the journal stores), with where
 * its parts lie in it, so that the receiver can look each part up in
 * SharedIndexValues instead of parsing it.
 */
export interface IndexText {
  text: string;
  /**
   * For each idx parameter, the offsets of its name (quoted) and of the end
   * of its value: [nameStart, valueStart, valueEnd, ...]; then srt's start
   * and end, then comp's. Absent when a parameter name needs escaping in
   * JSON (no R4 or profile parameter does): the text is then parsed whole.
   */
  spans?: number[];
}

/** Serialises an index, noting where its parts lie (see IndexText). */
export function indexText({ idx, srt, comp }: ExtractedIndex): IndexText {
  const spans: number[] = [];
  let text = '{"idx":{';
  let plain = true;
  for (const param in idx) {
    const name = JSON.stringify(param);
    if (name.length !== param.length + 2) plain = false;
    if (spans.length > 0) text += ',';
    spans.push(text.length);
    text += `${name}:`;
    spans.push(text.length);
    text += JSON.stringify(idx[param]);
    spans.push(text.length);
  }
  text += '},"srt":';
  spans.push(text.length);
  text += JSON.stringify(srt);
  spans.push(text.length);
  text += ',"comp":';
  spans.push(text.length);
  text += JSON.stringify(comp);
  spans.push(text.length);
  text += '}';
  return plain ? { text, spans } : { text };
}

/** Reads back what indexText wrote, sharing repeated idx values and comp lists through `shared`. */
export function readIndexText({ text, spans }: IndexText, shared: SharedIndexValues): ExtractedIndex {
  if (!spans) return JSON.parse(text) as ExtractedIndex;
  const idx: SearchIndex = {};
  const params = spans.length - 4;
  for (let i = 0; i < params; i += 3) {
    idx[text.slice(spans[i]! + 1, spans[i + 1]! - 2)] = shared.value(text.slice(spans[i + 1]!, spans[i + 2]!)) as IndexValue[];
  }
  const srt = JSON.parse(text.slice(spans[params]!, spans[params + 1]!)) as SortKeys;
  const comp = shared.value(text.slice(spans[params + 2]!, spans[params + 3]!)) as string[];
  return { idx, srt, comp };
}

/** Longer texts are rarely repeated (free text, long identifiers). */
const MAX_TEXT = 512;
/** Texts seen once, kept to recognise a second sighting. */
const MAX_SEEN_ONCE = 10_000;
/** Texts seen at least twice, whose value is shared. */
const MAX_SHARED = 50_000;

/**
 * One parsed copy of each index value text that keeps coming back: a code
 * (`[{"s":"http://loinc.org","c":"8302-2",...}]`), a status, a category, a
 * patient reference, a compartment list. Most of an Observation's index is
 * the same as thousands of others'; shared, it costs the store one copy
 * instead of one per version (fewer objects to keep, to promote out of the
 * young generation and to mark), and the receiver a lookup instead of a parse.
 *
 * A value is shared from its second sighting on, and frozen then: stored
 * versions are never changed in place, and a frozen value makes any attempt
 * fail loudly (StringPool skips frozen values). Both tables are bounded and
 * simply start again when full; a value already handed out stays with the
 * versions that hold it.
 *
 * The tables are objects used as dictionaries, not Maps: a property key is
 * an internalised copy of the text, where a Map would keep the slice, and
 * with it the whole index text it was cut from.
 */
export class SharedIndexValues {
  private seenOnce: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  private seenOnceCount = 0;
  private shared: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  private sharedCount = 0;

  value(text: string): unknown {
    if (text.length > MAX_TEXT) return JSON.parse(text);
    const shared = this.shared[text];
    if (shared !== undefined) return shared;
    const seen = this.seenOnce[text];
    if (seen !== undefined) {
      if (++this.sharedCount > MAX_SHARED) {
        this.shared = Object.create(null) as Record<string, unknown>;
        this.sharedCount = 1;
      }
      this.shared[text] = deepFreeze(seen);
      return seen;
    }
    const value: unknown = JSON.parse(text);
    if (++this.seenOnceCount > MAX_SEEN_ONCE) {
      this.seenOnce = Object.create(null) as Record<string, unknown>;
      this.seenOnceCount = 1;
    }
    this.seenOnce[text] = value;
    return value;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

import type { ExtractedIndex } from '../fhir/search/extract.js';
import type { IndexValue, SearchIndex, SortKeys } from '../fhir/search/index-types.js';

/**
 * A version's search index as the JSON text `{"idx":{...},"srt":{...},"comp":[...]}`
 * (what a write worker sends back, and what the journal stores), with where
 * its parts lie in it and which of them the worker has met before, so that
 * the receiver reuses its copy of those instead of parsing them.
 */
export interface IndexText {
  text: string;
  /** Absent when a parameter name needs escaping in JSON (no R4 or profile parameter does): the text is then parsed whole. */
  parts?: IndexParts;
}

export interface IndexParts {
  /**
   * For each idx parameter, the offsets of its name (quoted), of its value
   * and of the value's end: [nameStart, valueStart, valueEnd, ...]; then
   * srt's start and end, then comp's.
   */
  spans: number[];
  /**
   * For each idx parameter, then comp: the number the sender gave its text
   * (ValueNumbering), or -1 for a text it has not met twice.
   */
  ids: number[];
  /** The sender's numbering round: numbers of an earlier round mean nothing any more. */
  round: number;
}

/** Serialises an index, noting where its parts lie and numbering those that repeat (see IndexText). */
export function indexText({ idx, srt, comp }: ExtractedIndex, numbering: ValueNumbering): IndexText {
  const spans: number[] = [];
  const ids: number[] = [];
  let text = '{"idx":{';
  let plain = true;
  for (const param in idx) {
    const name = JSON.stringify(param);
    if (name.length !== param.length + 2) plain = false;
    if (spans.length > 0) text += ',';
    spans.push(text.length);
    text += `${name}:`;
    spans.push(text.length);
    const value = JSON.stringify(idx[param]);
    ids.push(numbering.id(value));
    text += value;
    spans.push(text.length);
  }
  text += '},"srt":';
  spans.push(text.length);
  text += JSON.stringify(srt);
  spans.push(text.length);
  text += ',"comp":';
  spans.push(text.length);
  const compText = JSON.stringify(comp);
  ids.push(numbering.id(compText));
  text += compText;
  spans.push(text.length);
  text += '}';
  return plain ? { text, parts: { spans, ids, round: numbering.round } } : { text };
}

/** Reads back what indexText wrote, taking the values it numbered from `shared`. */
export function readIndexText({ text, parts }: IndexText, shared: SharedIndexValues): ExtractedIndex {
  if (!parts) return JSON.parse(text) as ExtractedIndex;
  const { spans, ids, round } = parts;
  shared.follow(round);
  const idx: SearchIndex = {};
  const params = spans.length - 4;
  for (let i = 0, part = 0; i < params; i += 3, part++) {
    idx[text.slice(spans[i]! + 1, spans[i + 1]! - 2)] = shared.value(ids[part]!, text, spans[i + 1]!, spans[i + 2]!) as IndexValue[];
  }
  const srt = JSON.parse(text.slice(spans[params]!, spans[params + 1]!)) as SortKeys;
  const comp = shared.value(ids[ids.length - 1]!, text, spans[params + 2]!, spans[params + 3]!) as string[];
  return { idx, srt, comp };
}

/** Longer texts are rarely repeated (free text, long identifiers). */
const MAX_TEXT = 512;
/** Texts seen once, kept to recognise a second sighting. */
const MAX_SEEN_ONCE = 10_000;
/** Texts numbered (seen at least twice); past this, numbering starts a new round. */
const MAX_NUMBERED = 50_000;

/**
 * The sender's half (a write worker): numbers each index value text it
 * meets a second time (a code, a status, a category, a patient's reference
 * or compartment list), so that the receiver can keep one parsed copy per
 * number. Both tables are bounded; when the numbered one is full, a new
 * round starts from 0 and the receiver forgets the old one (SharedIndexValues.follow).
 */
export class ValueNumbering {
  private seenOnce = new Set<string>();
  private numbers = new Map<string, number>();
  round = 0;

  id(text: string): number {
    if (text.length > MAX_TEXT) return -1;
    const known = this.numbers.get(text);
    if (known !== undefined) return known;
    if (!this.seenOnce.has(text)) {
      if (this.seenOnce.size >= MAX_SEEN_ONCE) this.seenOnce = new Set();
      this.seenOnce.add(text);
      return -1;
    }
    if (this.numbers.size >= MAX_NUMBERED) {
      this.numbers = new Map();
      this.round++;
    }
    const id = this.numbers.size;
    this.numbers.set(text, id);
    return id;
  }
}

/**
 * The receiver's half (the main thread, one per worker): one parsed copy of
 * each numbered value, shared by every version that holds it. Most of an
 * Observation's index is the same as thousands of others'; shared, it costs
 * the store one copy instead of one per version (fewer objects to keep, to
 * promote out of the young generation and to mark), and the receiver an
 * array read instead of a parse.
 *
 * A shared value is frozen: stored versions are never changed in place, and
 * a frozen value makes any attempt fail loudly (StringPool skips frozen
 * values). A number met for the first time is defined from its text, which
 * every message carries, so a message that never reached this side (its
 * request gone) loses nothing.
 */
export class SharedIndexValues {
  private round = 0;
  private values: unknown[] = [];

  /** Starts over when the sender started a new round of numbers. */
  follow(round: number): void {
    if (round === this.round) return;
    this.round = round;
    this.values = [];
  }

  value(id: number, text: string, start: number, end: number): unknown {
    if (id < 0) return JSON.parse(text.slice(start, end));
    return (this.values[id] ??= deepFreeze(JSON.parse(text.slice(start, end))));
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** `a Patient`, `an Observation`: a resource type (or any word) with its indefinite article. */
export function withArticle(word: string): string {
  return `${/^[AEIOU]/i.test(word) ? 'an' : 'a'} ${word}`;
}

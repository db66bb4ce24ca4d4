/** A header as one text: Node joins repeated ones (RFC 9110 §5.3); inject may hand over a list. */
export function headerList(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

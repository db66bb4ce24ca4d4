/**
 * R4 JSON (json.html#primitive): in an array of primitives and its `_name`
 * array of extensions, `null` holds a place so that values and extensions stay
 * aligned: `"given": ["Jean", null], "_given": [null, {"extension": [...]}]`.
 * A null is such a placeholder when it is an item of `name` (or `_name`) and the
 * other array has something at the same index; null at the same index of both
 * says nothing and stays an error, as does every other null.
 *
 * Called only for the schema's errors, so a valid resource pays nothing.
 */
export function isAlignmentNull(root: unknown, pointer: string): boolean {
  const slash = pointer.lastIndexOf('/');
  const index = pointer.slice(slash + 1);
  if (slash <= 0 || !/^\d+$/.test(index)) return false;
  const arrayAt = pointer.slice(0, slash);
  const nameSlash = arrayAt.lastIndexOf('/');
  const name = unescape(arrayAt.slice(nameSlash + 1));
  const parent = nodeAt(root, arrayAt.slice(0, nameSlash));
  if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) return false;
  const own = (parent as Record<string, unknown>)[name];
  if (!Array.isArray(own) || own[Number(index)] !== null) return false;
  const other = (parent as Record<string, unknown>)[name.startsWith('_') ? name.slice(1) : `_${name}`];
  if (!Array.isArray(other)) return false;
  const partner = other[Number(index)];
  return partner !== null && partner !== undefined;
}

function nodeAt(root: unknown, pointer: string): unknown {
  let node = root;
  if (!pointer) return node;
  for (const seg of pointer.slice(1).split('/')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[unescape(seg)];
  }
  return node;
}

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Look a dotted path up in nested dicts and lists, as Prefect's `get_from_dict` does:
 * `a.b[0].c` is read as the keys `a`, `b`, `0`, `c`; a key that reads as an integer indexes a
 * list (negative counts from the end, as in Python); any miss gives `fallback`.
 */
export function getByKeyPath<T>(root: unknown, keyPath: string, fallback: T): unknown | T {
  const keys = keyPath.replaceAll('[', '.').replaceAll(']', '').split('.');
  let current: unknown = root;
  for (const key of keys) {
    const index = /^[+-]?\d+$/.test(key.trim()) ? Number(key.trim()) : null;
    if (Array.isArray(current) || typeof current === 'string') {
      if (index === null) return fallback;
      const i = index < 0 ? current.length + index : index;
      if (i < 0 || i >= current.length) return fallback;
      current = current[i];
    } else if (current !== null && typeof current === 'object') {
      // JSON/YAML mapping keys are strings here; Python would look an int key up as an int.
      if (!Object.prototype.hasOwnProperty.call(current, key)) return fallback;
      current = (current as Record<string, unknown>)[key];
    } else {
      return fallback;
    }
  }
  return current;
}

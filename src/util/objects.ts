/** Small shape checks shared across floors. */

/** A plain `{...}` mapping (what YAML/JSON gives for an object): not null, an array or a Date. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

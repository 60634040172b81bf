/**
 * `str(value)` as Python prints it. Prefect stringifies a value that fills an embedded
 * placeholder ("bucket-{{ x }}") with Python's `str()`, so a user's prefect.yaml that relied on
 * `True`, `None` or a printed dict keeps producing the same text here.
 *
 * Known differences, all rooted in JavaScript having one number type:
 * - a YAML/JSON float with a zero fraction (`1.0`) arrives as the number 1 and prints `1`
 *   (Python prints `1.0`);
 * - integers beyond 2^53 have already lost precision when the YAML was parsed.
 * Floats otherwise print as Python's `repr` does (shortest round-trip digits, exponent form
 * below 1e-4 and from 1e16 up: `1e-05`, `1e+16`), `inf`/`nan` included.
 */

export function pythonStr(value: unknown): string {
  if (typeof value === 'string') return value;
  return pythonRepr(value);
}

/** `repr(value)` for the JSON-like values a prefect.yaml can hold. */
export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return pythonStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (value instanceof Date) return pythonStringRepr(value.toISOString());
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`);
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

function pythonNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  // An integral value is most likely a YAML int: print it as Python prints an int.
  if (Number.isInteger(n)) return BigInt(n).toString();
  // Shortest round-trip digits (same algorithm family as Python's repr), then Python's layout.
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** Python's string repr: single quotes unless the text holds a ' and no ". */
export function pythonStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

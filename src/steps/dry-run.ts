/**
 * `steps run --dry-run`: what each step would get and do, with nothing written. Parameters are
 * shown as resolved, with secrets masked twice over: by field name here (keys, tokens,
 * passwords, connection strings, private keys), and by value wherever a message is printed
 * (every secret a block or credential helper saw is registered with the scrubber).
 */
import { findPlaceholders } from './templating.js';

const SECRET_FIELD = /secret|password|passwd|token|private_key|connection_string|sas|passphrase|client_secret|account_key|^key$|api_key|auth/i;
export const MASK = '***';

/** A copy of the step's arguments with every secret-looking field's value replaced by ***. */
export function maskParams(value: unknown, field = ''): unknown {
  if (SECRET_FIELD.test(field) && value !== null && value !== undefined && value !== '') {
    return typeof value === 'object' ? maskAll(value) : MASK;
  }
  if (Array.isArray(value)) return value.map((v) => maskParams(v, field));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskParams(v, k)]));
  }
  return value;
}

function maskAll(value: object): unknown {
  if (Array.isArray(value)) return value.map(() => MASK);
  return Object.fromEntries(Object.keys(value).map((k) => [k, MASK]));
}

/** Step ids whose outputs a placeholder in these arguments reads (`{{ clone.directory }}` → clone). */
export function idsReadBy(args: unknown): Set<string> {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const p of findPlaceholders(v)) if (p.kind === 'standard') out.add(p.name.split(/[.[]/)[0]!);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(args);
  return out;
}

/** `key: value` lines for the human output, one per parameter (mappings inline, as JSON). */
export function paramLines(params: Record<string, unknown>): string[] {
  return Object.entries(params).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
}

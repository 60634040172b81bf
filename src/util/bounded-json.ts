/**
 * JSON from places flowsync does not control (a remote manifest, a lease, a pull's state file)
 * is parsed with bounds: a size limit and a nesting-depth limit, checked in one linear pass
 * before JSON.parse. JSON.parse itself copes with deep nesting, but everything that walks the
 * value afterwards (JSON.stringify when the manifest is rewritten, structured clones, recursion
 * in validation) overflows the stack: ~10 KB of "[[[[..." was enough to crash a push after it
 * had uploaded objects. Bounded parsing turns that into one clear error, before any work.
 */
import { FlowsyncError, type ErrorCode } from '../errors.js';

export interface JsonBounds {
  /** For messages: "the manifest at s3://b/p (p/.flowsync/manifest.json)". */
  what: string;
  maxBytes: number;
  maxDepth: number;
  /** The error code of a refusal (BAD_MANIFEST for manifests). */
  code: ErrorCode;
  /** Appended to the message: what the user can do. */
  fix: string;
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of objects and arrays in `text` (strings skipped), stopping once past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Most of a manifest's bytes are inside strings (paths, hashes): jump to the closing quote.
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return deepest; // unterminated: JSON.parse says so
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/** Whether the quote at `at` is escaped: an odd number of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === BACKSLASH) n++;
  return n % 2 === 1;
}

/** Parse `input` as JSON within `bounds`; a refusal or a syntax error is a FlowsyncError of `bounds.code`. */
export function parseBoundedJson(input: string | Uint8Array, bounds: JsonBounds): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > bounds.maxBytes) {
    throw new FlowsyncError(bounds.code, `${capital(bounds.what)} is ${size} bytes, more than the ${bounds.maxBytes} this flowsync accepts. ${bounds.fix}`);
  }
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  const depth = jsonDepth(text, bounds.maxDepth);
  if (depth > bounds.maxDepth) {
    throw new FlowsyncError(bounds.code, `${capital(bounds.what)} nests objects or arrays more than ${bounds.maxDepth} levels deep. ${bounds.fix}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FlowsyncError(bounds.code, `${capital(bounds.what)} is not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')}). ${bounds.fix}`, { cause: err });
  }
}

/** Refuse a document the store says is too big before reading it. */
export function assertJsonSize(size: number, bounds: Pick<JsonBounds, 'what' | 'maxBytes' | 'code' | 'fix'>): void {
  if (size > bounds.maxBytes) {
    throw new FlowsyncError(bounds.code, `${capital(bounds.what)} is ${size} bytes, more than the ${bounds.maxBytes} this flowsync accepts. ${bounds.fix}`);
  }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

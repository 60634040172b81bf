/**
 * A mirror manifest read a line at a time. serializeManifest writes the top-level fields on the
 * first line (ending in `"files":[`), one entry a line, and `]}` last. Parsing the document
 * whole held its bytes, its text and JSON.parse's raw tree of every entry at once: at 100k files
 * (22 MB) a pull's peak RSS was that moment, ~35 MB above what the same entries cost when each
 * line is parsed and checked on its own (its raw object dies young).
 *
 * Anything else (another writer's whitespace, an entry over two lines, a line too deep, a line
 * JSON.parse refuses) is not an error here: the caller parses the whole document instead, which
 * gives every refusal its usual message. What this accepts is exactly what the whole parse would
 * give: the head line, with `"files":[` cut, is an object of its own; every entry line is a JSON
 * value followed by `,` (or by the `]}` line); nothing follows `]}` but one newline.
 */
import { jsonDepth } from '../util/bounded-json.js';

const FILES_OPEN = '"files":[';
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const CLOSING = ']}';

/** Thrown by entries() when a line is not what the fast path takes: parse the whole document. */
export const NOT_LINE_LAYOUT = Symbol('not the one-entry-a-line layout');

export interface ManifestLines {
  /** The top-level fields (a `files` among them is the whole parse's too: the later key wins, so it is dropped). */
  head: Record<string, unknown>;
  /** The raw entries, parsed one line at a time; throws NOT_LINE_LAYOUT on a line it does not take. */
  entries(): Generator<unknown>;
}

/** The manifest's head and a reader of its entry lines, or null when it is not in that layout. */
export function manifestLines(bytes: Uint8Array, maxDepth: number): ManifestLines | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headEnd = buf.indexOf(NEWLINE);
  if (headEnd < 0) return null;
  const headLine = buf.toString('utf8', 0, headEnd);
  if (!headLine.startsWith('{') || !headLine.endsWith(FILES_OPEN)) return null;
  const before = headLine.slice(0, -FILES_OPEN.length);
  // `{` alone, or members and a comma: only then is head + `"files":[` the whole document's start.
  if (before !== '{' && !before.endsWith(',')) return null;
  const headText = before === '{' ? '{}' : `${before.slice(0, -1)}}`;
  if (jsonDepth(headText, maxDepth) > maxDepth) return null;
  let head: unknown;
  try {
    head = JSON.parse(headText);
  } catch {
    return null;
  }
  if (typeof head !== 'object' || head === null || Array.isArray(head)) return null;
  // `{ ,"files":[` would parse here as `{ }` but is not JSON: members must precede that comma.
  if (before !== '{' && Object.keys(head).length === 0) return null;
  const { files: _replaced, ...fields } = head as Record<string, unknown>;
  return { head: fields, entries: () => entryLines(buf, headEnd + 1, maxDepth - 2) };
}

function* entryLines(buf: Buffer, from: number, maxDepth: number): Generator<unknown> {
  let at = from;
  let more = true; // the previous line ended in a comma (or was the head): an entry must follow
  for (;;) {
    let end = buf.indexOf(NEWLINE, at);
    if (end < 0) end = buf.length;
    const comma = end > at && buf[end - 1] === COMMA;
    const line = buf.toString('utf8', at, comma ? end - 1 : end);
    if (line === CLOSING && !comma) {
      // `]}` after an entry (or right after the head), then at most one newline.
      if (more && at !== from) throw NOT_LINE_LAYOUT;
      if (end < buf.length && end + 1 !== buf.length) throw NOT_LINE_LAYOUT;
      return;
    }
    if (!more || end === buf.length || jsonDepth(line, maxDepth) > maxDepth) throw NOT_LINE_LAYOUT;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw NOT_LINE_LAYOUT;
    }
    yield value;
    more = comma;
    at = end + 1;
  }
}

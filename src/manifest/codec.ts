/**
 * Manifest (de)serialisation and validation. The same tree always gives the same bytes: files
 * sorted by the UTF-8 bytes of their path, fixed key order, no whitespace variance.
 */
import { createHash } from 'node:crypto';
import { FlowsyncError } from '../errors.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { MANIFEST_MAX_BYTES, MANIFEST_MAX_DEPTH, parseCommittedTag, validFileSize } from './limits.js';
import { assertSafePath, compareUtf8, fileFolderClash, isReserved, unsafeLinkReason } from './paths.js';
import { manifestLines, NOT_LINE_LAYOUT } from './manifest-lines.js';
import { Utf8Pieces } from './utf8-pieces.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type FileEntry,
  type FileMode,
  type Layout,
  type LinkEntry,
  type Manifest,
  type ManifestEntry,
  withTag,
} from './types.js';

const KNOWN_TOP_LEVEL = new Set(['format', 'version', 'createdAt', 'layout', 'files']);
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function createManifest(files: ManifestEntry[], createdAt = new Date()): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt: createdAt.toISOString(),
    layout: 'mirror',
    files: sortEntries(files),
  };
}

export function sortEntries(files: ManifestEntry[]): ManifestEntry[] {
  return inUtf8Order(files) ? [...files] : [...files].sort((a, b) => compareUtf8(a.path, b.path));
}

/** A unit at or above U+D800: only there can UTF-16 order (`<`) differ from UTF-8 byte order. */
const ABOVE_D800 = /[\uD800-\uFFFF]/;

/**
 * True when the paths are already in UTF-8 byte order, found with native string comparisons.
 * Lists mostly arrive sorted (the walker emits that order), and sorting them anyway cost ~10 ms
 * of a 0.2 s no-change push: thousands of calls into a comparator still cold at start-up.
 */
function inUtf8Order(files: readonly ManifestEntry[]): boolean {
  for (let i = 1; i < files.length; i++) if (!(files[i - 1]!.path < files[i]!.path)) return false;
  return !files.some((e) => ABOVE_D800.test(e.path));
}

export function serializeManifest(m: Manifest): Uint8Array {
  const head: Record<string, unknown> = {
    format: m.format,
    version: m.version,
    createdAt: m.createdAt,
    layout: m.layout,
    ...m.extra,
  };
  // One entry a line keeps large manifests diffable and cheap to produce.
  const out = new Utf8Pieces();
  out.add(`${JSON.stringify(head).slice(0, -1)},"files":[`);
  out.addLines(sortEntries(m.files), entryLine);
  out.add(']}\n');
  return out.bytes();
}

function entryLine(e: ManifestEntry): string {
  if ('link' in e || e.tag === undefined) return contentLine(e);
  return `${contentLine(e).slice(0, -1)},"tag":${JSON.stringify(e.tag)}}`;
}

/**
 * An entry's content alone (no committed tag): what two scans of the same tree agree on. The
 * same bytes as JSON.stringify of `{path, size, mode, sha256}` (or `{path, link}`), put together
 * by hand: stringifying one object per entry was most of the cost of a 100k-file digest.
 */
function contentLine(e: ManifestEntry): string {
  const path = quote(e.path);
  if ('link' in e) return `{"path":${path},"link":${quote(e.link)}}`;
  return `{"path":${path},"size":${e.size},"mode":${e.mode},"sha256":${quote(e.sha256)}}`;
}

/** What JSON.stringify escapes in a string: quote, backslash, control characters, any surrogate (lone ones become \u escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string, without its cost for the usual plain path or hash (a third of a 100k-file digest). */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

export function filesDigest(m: Manifest): string {
  const h = createHash('sha256');
  // A Manifest's files are sorted (createManifest and parseManifest both sort them). The lines
  // go to the hash in ~64 KB batches: an update per entry was 15-40 % slower at 100k entries.
  let batch = '';
  for (const e of m.files) {
    batch += contentLine(e) + '\n';
    if (batch.length > 1 << 16) {
      h.update(batch);
      batch = '';
    }
  }
  return h.update(batch).digest('hex');
}

/** The manifest's id: sha256 of its bytes, so equal manifests have equal ids. */
export function manifestId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function bad(where: string, why: string): FlowsyncError {
  return new FlowsyncError(
    'BAD_MANIFEST',
    `The manifest at ${where} is invalid: ${why}. It was not written by flowsync or was damaged; push again from the source folder to replace it.`,
  );
}

/**
 * Parse and validate manifest bytes. Rejects (never cleans) unsafe paths, duplicates, links
 * leaving the tree, and refuses versions newer than this reader.
 */
export function parseManifest(bytes: Uint8Array | string, where = 'the remote'): Manifest {
  const lines = typeof bytes !== 'string' && bytes.length <= MANIFEST_MAX_BYTES ? manifestLines(bytes, MANIFEST_MAX_DEPTH) : null;
  if (lines) {
    try {
      return checkedManifest(lines.head, lines.entries(), where);
    } catch (err) {
      if (err !== NOT_LINE_LAYOUT) throw err;
      // Not the layout flowsync writes after all: the whole document, with its usual errors.
    }
  }
  const raw = parseBoundedJson(bytes, {
    what: `the manifest at ${where}`,
    maxBytes: MANIFEST_MAX_BYTES,
    maxDepth: MANIFEST_MAX_DEPTH,
    code: 'BAD_MANIFEST',
    fix: 'Push again from the source folder to replace it.',
  });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(where, 'it is not a JSON object');
  const { files, ...head } = raw as Record<string, unknown>;
  return checkedManifest(head, files, where);
}

/** The manifest from its top-level fields (but files) and its raw entries (a JSON array, or the line reader's), every one checked. */
function checkedManifest(obj: Record<string, unknown>, rawFiles: unknown, where: string): Manifest {
  if (obj.format !== MANIFEST_FORMAT) throw bad(where, `"format" is ${JSON.stringify(obj.format)}, expected "${MANIFEST_FORMAT}"`);
  if (typeof obj.version !== 'number' || !Number.isInteger(obj.version) || obj.version < 1) throw bad(where, '"version" is not a positive integer');
  if (obj.version > MANIFEST_VERSION) {
    throw new FlowsyncError(
      'UNSUPPORTED_VERSION',
      `The manifest at ${where} has version ${obj.version}; this flowsync reads up to version ${MANIFEST_VERSION}. Upgrade flowsync on this machine.`,
    );
  }
  if (obj.layout !== 'mirror') throw bad(where, `layout ${JSON.stringify(obj.layout)} is not supported by this flowsync (only "mirror")`);
  if (typeof obj.createdAt !== 'string') throw bad(where, '"createdAt" is missing');
  const fromLines = typeof (rawFiles as Generator | undefined)?.next === 'function'; // JSON holds no functions
  if (!Array.isArray(rawFiles) && !fromLines) throw bad(where, '"files" is not an array');

  const files: ManifestEntry[] = [];
  const seen = new Set<string>();
  let i = 0;
  for (const item of rawFiles as Iterable<unknown>) {
    const e = parseEntry(item, i++, where);
    if (seen.has(e.path)) throw bad(where, `path ${JSON.stringify(e.path)} is listed twice`);
    seen.add(e.path);
    files.push(e);
  }
  const clash = fileFolderClash(seen);
  if (clash) throw bad(where, `${JSON.stringify(clash[0])} is listed as a file and as a folder of ${JSON.stringify(clash[1])}`);
  const linkPaths = new Set(files.filter((e) => 'link' in e).map((e) => e.path));
  for (const e of files) {
    if (!('link' in e)) continue;
    const reason = unsafeLinkReason(e.path, e.link, linkPaths);
    if (reason !== null) {
      throw new FlowsyncError(
        'UNSAFE_PATH',
        `Refusing link ${JSON.stringify(e.path)} -> ${JSON.stringify(e.link)} in the manifest at ${where}: ${reason}. Nothing was written; push again from the source folder to replace the manifest.`,
      );
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!KNOWN_TOP_LEVEL.has(k)) extra[k] = v;
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    version: obj.version,
    createdAt: obj.createdAt,
    layout: obj.layout as Layout,
    files: sortEntries(files),
  };
  if (Object.keys(extra).length) m.extra = extra;
  return m;
}

/**
 * The fields every manifest entry has, whatever the layout: a checked link entry, or a checked
 * file entry plus the raw object (for the layout's own fields). `bad` words the error.
 */
export function parseEntryFields(
  item: unknown,
  i: number,
  where: string,
  bad: (where: string, why: string) => FlowsyncError,
): { link: LinkEntry } | { file: FileEntry; raw: Record<string, unknown> } {
  if (typeof item !== 'object' || item === null) throw bad(where, `files[${i}] is not an object`);
  const e = item as Record<string, unknown>;
  if (typeof e.path !== 'string') throw bad(where, `files[${i}].path is not a string`);
  assertSafePath(e.path, `the manifest at ${where}`);
  if (isReserved(e.path)) throw bad(where, `path ${JSON.stringify(e.path)} is inside flowsync's reserved ".flowsync/" folder`);
  if ('link' in e) {
    if (typeof e.link !== 'string' || e.link === '' || e.link.includes('\0')) throw bad(where, `files[${i}].link is not a non-empty string`);
    return { link: { path: e.path, link: e.link } };
  }
  if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) throw bad(where, `files[${i}].size is not a non-negative integer`);
  if (e.mode !== 0o644 && e.mode !== 0o755) throw bad(where, `files[${i}].mode is ${JSON.stringify(e.mode)}, expected 420 or 493`);
  if (typeof e.sha256 !== 'string' || !SHA256_HEX.test(e.sha256)) throw bad(where, `files[${i}].sha256 is not 64 lower-case hex digits`);
  return { file: { path: e.path, size: e.size, mode: e.mode as FileMode, sha256: e.sha256 }, raw: e };
}

function parseEntry(item: unknown, i: number, where: string): ManifestEntry {
  const parsed = parseEntryFields(item, i, where, bad);
  if ('link' in parsed) return parsed.link;
  const { file: entry, raw: e } = parsed;
  const tooBig = validFileSize(entry.size);
  if (tooBig !== null) throw bad(where, `files[${i}].size ${tooBig}`);
  // The mirror layout's committed object tag (DESIGN §5.1): optional, manifests from before it have none.
  if ('tag' in e) {
    const tag = parseCommittedTag(e.tag);
    if (tag === null) throw bad(where, `files[${i}].tag is not a short printable string`);
    // A new object rather than a property added later, which would live out of the object (see withTag).
    return withTag(entry, tag);
  }
  return entry;
}

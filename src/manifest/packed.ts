/**
 * The packed layout's manifest (DESIGN §4, §5.2): format version 2, layout "packed". It is both
 * `versions/<id>.json` and the pointer `manifest.json` (the same bytes; id = their sha256).
 *
 * The version bump is the refusal older readers need: a version-1 reader stops at "version 2 ...
 * upgrade flowsync", and an older push refuses to replace it (it only replaces damaged manifests),
 * so a packed remote is never misread as mirror.
 *
 * Bytes: line 1 is the head (format, version, createdAt, layout, counts, message, provenance), so
 * `log` can read a version's summary from a short ranged read; then the packs, then one entry a
 * line. A file entry either names a pack (index into `packs`) and the offset of its data in that
 * tar, or, without `pack`, lives in `blobs/<sha256>`; an empty file needs no object at all.
 * After the files, `retained` (when not empty): contents earlier versions held and this one does
 * not, with where they are stored and how many pushes ago they left the tree. A push dedups
 * against them too, so a file restored within RETAIN_PUSHES pushes (a revert, a branch switched
 * back) uploads nothing; gc counts them as this version's references, which is what keeps that
 * dedup safe (a push only ever dedups against content the current version references).
 */
import { FlowsyncError } from '../errors.js';
import { parseEntryFields, sortEntries } from './codec.js';
import { fileFolderClash, unsafeLinkReason } from './paths.js';
import { MANIFEST_FORMAT, type FileEntry, type LinkEntry } from './types.js';
import { Utf8Pieces } from './utf8-pieces.js';

export const PACKED_MANIFEST_VERSION = 2;
export const PACKED_LAYOUT = 'packed';
/** tar's block: headers are one block, data is padded to whole blocks, the archive ends with two. */
export const TAR_BLOCK = 512;
const MAX_MESSAGE = 4096;
/** How many pushes a content that left the tree stays known to the next pushes (gc's default --keep). */
export const RETAIN_PUSHES = 10;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** What a packed manifest starts with, as written by `serializePackedManifest`. */
const PACKED_PREFIX = `{"format":"${MANIFEST_FORMAT}","version":${PACKED_MANIFEST_VERSION},`;

export interface PackRef {
  /** sha256 of the whole tar: the pack's object is `packs/<sha256>.tar`. */
  sha256: string;
  size: number;
}

export interface PackedFileEntry extends FileEntry {
  /** Index into the manifest's `packs`; absent: the content is the blob `blobs/<sha256>` (or empty). */
  pack?: number;
  /** Byte offset of the member's data inside the pack (after its tar header). */
  offset?: number;
}

export type PackedEntry = PackedFileEntry | LinkEntry;

/** Orders packs and retained contents by sha256 (hex digits: code-unit order is byte order). */
export const bySha256 = (a: { sha256: string }, b: { sha256: string }): number => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0);

/** A content an earlier version stored and this one does not list (see the file's comment). */
export interface RetainedContent {
  sha256: string;
  size: number;
  /** Index into `packs`; absent: the blob `blobs/<sha256>`. */
  pack?: number;
  offset?: number;
  /** Pushes since it left the tree: 1 for the version that dropped it, at most RETAIN_PUSHES. */
  age: number;
}

export interface Provenance {
  flowsync: string;
  host: string;
  git?: { commit: string; dirty: boolean };
}

export interface PackedManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof PACKED_MANIFEST_VERSION;
  createdAt: string;
  layout: typeof PACKED_LAYOUT;
  counts: { files: number; bytes: number };
  message?: string;
  provenance: Provenance;
  packs: PackRef[];
  files: PackedEntry[];
  /** Sorted by sha256; empty when nothing is retained. */
  retained: RetainedContent[];
}

/** A version's summary: what `log` shows, from the head line alone. */
export type VersionHead = Pick<PackedManifest, 'createdAt' | 'counts' | 'message' | 'provenance'>;

/** True when the bytes are a packed manifest as flowsync writes them (a cheap look at the head). */
export function looksPacked(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, PACKED_PREFIX.length)).toString('utf8') === PACKED_PREFIX;
}

export function createPackedManifest(o: { files: PackedEntry[]; packs: PackRef[]; provenance: Provenance; message?: string; createdAt?: Date; retained?: RetainedContent[] }): PackedManifest {
  const files = sortEntries(o.files) as PackedEntry[];
  let count = 0;
  let bytes = 0;
  for (const e of files) {
    if ('link' in e) continue;
    count++;
    bytes += e.size;
  }
  if (o.message !== undefined && o.message.length > MAX_MESSAGE) {
    throw new FlowsyncError('USAGE', `The --message is ${o.message.length} characters long; keep it under ${MAX_MESSAGE}.`);
  }
  return {
    format: MANIFEST_FORMAT,
    version: PACKED_MANIFEST_VERSION,
    createdAt: (o.createdAt ?? new Date()).toISOString(),
    layout: PACKED_LAYOUT,
    counts: { files: count, bytes },
    ...(o.message ? { message: o.message } : {}),
    provenance: o.provenance,
    packs: o.packs,
    files,
    retained: [...(o.retained ?? [])].sort(bySha256),
  };
}

export function serializePackedManifest(m: PackedManifest): Uint8Array {
  const head = {
    format: m.format,
    version: m.version,
    createdAt: m.createdAt,
    layout: m.layout,
    counts: m.counts,
    ...(m.message !== undefined ? { message: m.message } : {}),
    provenance: m.provenance,
  };
  const out = new Utf8Pieces();
  out.add(`${JSON.stringify(head).slice(0, -1)},\n"packs":[`);
  out.addLines(m.packs, (p) => JSON.stringify({ sha256: p.sha256, size: p.size }));
  out.add('],\n"files":[');
  out.addLines(sortEntries(m.files) as PackedEntry[], packedEntryLine);
  // Absent when empty, so a version without retained content has the bytes it always had.
  if (m.retained.length > 0) {
    out.add('],\n"retained":[');
    out.addLines(m.retained, (r) => JSON.stringify({ sha256: r.sha256, size: r.size, ...(r.pack !== undefined ? { pack: r.pack, offset: r.offset } : {}), age: r.age }));
  }
  out.add(']}\n');
  return out.bytes();
}

function packedEntryLine(e: PackedEntry): string {
  if ('link' in e) return JSON.stringify({ path: e.path, link: e.link });
  const where = e.pack !== undefined ? { pack: e.pack, offset: e.offset } : {};
  return JSON.stringify({ path: e.path, size: e.size, mode: e.mode, sha256: e.sha256, ...where });
}

/** The plain entries (no pack references): what the tree is, whatever the layout. */
export function plainEntries(m: PackedManifest): (FileEntry | LinkEntry)[] {
  return m.files.map((e) => ('link' in e ? { path: e.path, link: e.link } : { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 }));
}

function bad(where: string, why: string): FlowsyncError {
  return new FlowsyncError(
    'BAD_MANIFEST',
    `The packed manifest at ${where} is invalid: ${why}. It was damaged or not written by flowsync; nothing was written. Roll back to an earlier version (flowsync log, flowsync rollback) or push again.`,
  );
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The head line alone (for `log`): null when `bytes` does not hold a whole first line. */
export function parseVersionHead(bytes: Uint8Array, where: string): VersionHead | null {
  const text = Buffer.from(bytes).toString('utf8');
  const nl = text.indexOf('\n');
  if (nl < 0 || !text.startsWith(PACKED_PREFIX)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(0, nl).replace(/,$/, '') + '}');
  } catch {
    return null;
  }
  return headOf(raw as Record<string, unknown>, where);
}

function headOf(obj: Record<string, unknown>, where: string): VersionHead {
  if (typeof obj.createdAt !== 'string' || Number.isNaN(Date.parse(obj.createdAt))) throw bad(where, '"createdAt" is not a date');
  const counts = obj.counts as Record<string, unknown> | undefined;
  if (typeof counts !== 'object' || counts === null || !isCount(counts.files) || !isCount(counts.bytes)) throw bad(where, '"counts" is not {files, bytes}');
  if (obj.message !== undefined && (typeof obj.message !== 'string' || obj.message.length > MAX_MESSAGE)) throw bad(where, '"message" is not a short text');
  const p = obj.provenance as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null || typeof p.flowsync !== 'string' || typeof p.host !== 'string') throw bad(where, '"provenance" is not {flowsync, host}');
  const git = p.git as Record<string, unknown> | undefined;
  if (git !== undefined && (typeof git !== 'object' || git === null || typeof git.commit !== 'string' || typeof git.dirty !== 'boolean')) throw bad(where, '"provenance.git" is not {commit, dirty}');
  const provenance: Provenance = { flowsync: p.flowsync, host: p.host, ...(git ? { git: { commit: git.commit as string, dirty: git.dirty as boolean } } : {}) };
  return { createdAt: obj.createdAt, counts: { files: counts.files, bytes: counts.bytes }, ...(obj.message !== undefined ? { message: obj.message as string } : {}), provenance };
}

/**
 * Parse and validate a packed manifest from the remote before anything is written: paths (as the
 * mirror reader checks them), pack references, offsets inside their pack, sizes and counts.
 */
export function parsePackedManifest(bytes: Uint8Array, where = 'the remote'): PackedManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw bad(where, `it is not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(where, 'it is not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (obj.format !== MANIFEST_FORMAT) throw bad(where, `"format" is ${JSON.stringify(obj.format)}`);
  if (obj.version !== PACKED_MANIFEST_VERSION) {
    throw new FlowsyncError('UNSUPPORTED_VERSION', `The manifest at ${where} has version ${JSON.stringify(obj.version)}; this flowsync reads packed manifests of version ${PACKED_MANIFEST_VERSION}. Upgrade flowsync on this machine.`);
  }
  if (obj.layout !== PACKED_LAYOUT) throw bad(where, `"layout" is ${JSON.stringify(obj.layout)}, expected "packed"`);
  const head = headOf(obj, where);
  if (!Array.isArray(obj.packs)) throw bad(where, '"packs" is not an array');
  const packs: PackRef[] = obj.packs.map((p: unknown, i: number) => {
    const r = p as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) throw bad(where, `packs[${i}].sha256 is not 64 lower-case hex digits`);
    // The smallest tar with one member: a header, one data block, the two end blocks.
    if (!isCount(r.size) || r.size < 4 * TAR_BLOCK || r.size % TAR_BLOCK !== 0) throw bad(where, `packs[${i}].size is not a tar's size`);
    return { sha256: r.sha256, size: r.size };
  });
  if (new Set(packs.map((p) => p.sha256)).size !== packs.length) throw bad(where, 'a pack is listed twice');
  if (!Array.isArray(obj.files)) throw bad(where, '"files" is not an array');

  const files: PackedEntry[] = [];
  const seen = new Set<string>();
  let count = 0;
  let total = 0;
  for (const [i, item] of obj.files.entries()) {
    const e = parsePackedEntry(item, i, where, packs);
    if (seen.has(e.path)) throw bad(where, `path ${JSON.stringify(e.path)} is listed twice`);
    seen.add(e.path);
    files.push(e);
    if (!('link' in e)) {
      count++;
      total += e.size;
    }
  }
  if (count !== head.counts.files || total !== head.counts.bytes) throw bad(where, `"counts" (${head.counts.files} files, ${head.counts.bytes} B) do not match the entries (${count} files, ${total} B)`);
  const clash = fileFolderClash(seen);
  if (clash) throw bad(where, `${JSON.stringify(clash[0])} is listed as a file and as a folder of ${JSON.stringify(clash[1])}`);
  const retained = parseRetained(obj.retained, where, packs, files);
  const linkPaths = new Set(files.filter((e) => 'link' in e).map((e) => e.path));
  for (const e of files) {
    if (!('link' in e)) continue;
    const reason = unsafeLinkReason(e.path, e.link, linkPaths);
    if (reason !== null) throw new FlowsyncError('UNSAFE_PATH', `Refusing link ${JSON.stringify(e.path)} -> ${JSON.stringify(e.link)} in the manifest at ${where}: ${reason}. Nothing was written.`);
  }
  return {
    format: MANIFEST_FORMAT,
    version: PACKED_MANIFEST_VERSION,
    createdAt: head.createdAt,
    layout: PACKED_LAYOUT,
    counts: head.counts,
    ...(head.message !== undefined ? { message: head.message } : {}),
    provenance: head.provenance,
    packs,
    files: sortEntries(files) as PackedEntry[],
    retained,
  };
}

function parseRetained(raw: unknown, where: string, packs: PackRef[], files: PackedEntry[]): RetainedContent[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw bad(where, '"retained" is not an array');
  const listed = new Set<string>();
  for (const e of files) if (!('link' in e)) listed.add(e.sha256);
  const out: RetainedContent[] = [];
  for (const [i, item] of raw.entries()) {
    const r = item as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) throw bad(where, `retained[${i}].sha256 is not 64 lower-case hex digits`);
    if (!isCount(r.size) || r.size === 0) throw bad(where, `retained[${i}].size is not a positive size`);
    if (typeof r.age !== 'number' || !Number.isInteger(r.age) || r.age < 1 || r.age > RETAIN_PUSHES) throw bad(where, `retained[${i}].age is not 1 to ${RETAIN_PUSHES}`);
    if (listed.has(r.sha256)) throw bad(where, `retained[${i}] is a content the files list (or listed twice)`);
    listed.add(r.sha256);
    const content: RetainedContent = { sha256: r.sha256, size: r.size, age: r.age };
    if (r.pack !== undefined || r.offset !== undefined) {
      checkMember(r.pack, r.offset, r.size, packs, where, `retained[${i}]`);
      content.pack = r.pack as number;
      content.offset = r.offset as number;
    }
    out.push(content);
  }
  return out;
}

/** A member's data starts after its header, on a block boundary, and ends before the two end blocks. */
function checkMember(pack: unknown, offset: unknown, size: number, packs: PackRef[], where: string, what: string, label = ''): void {
  if (typeof pack !== 'number' || !Number.isInteger(pack) || pack < 0 || pack >= packs.length) throw bad(where, `${what}.pack is not one of the ${packs.length} listed packs`);
  const p = packs[pack]!;
  if (!isCount(offset) || offset < TAR_BLOCK || offset % TAR_BLOCK !== 0 || offset + size > p.size - 2 * TAR_BLOCK) {
    throw bad(where, `${what}${label} lies outside its pack (offset ${JSON.stringify(offset)}, ${size} B, pack of ${p.size} B)`);
  }
}

function parsePackedEntry(item: unknown, i: number, where: string, packs: PackRef[]): PackedEntry {
  const parsed = parseEntryFields(item, i, where, bad);
  if ('link' in parsed) return parsed.link;
  const { file, raw: e } = parsed;
  const entry: PackedFileEntry = file;
  if (e.pack === undefined && e.offset === undefined) return entry;
  checkMember(e.pack, e.offset, entry.size, packs, where, `files[${i}]`, ` (${JSON.stringify(entry.path)})`);
  return inPack(entry, e.pack as number, e.offset as number);
}

/** The file as a member of the manifest's pack number `pack`, at `offset`. A literal, not a spread: see withTag in types.ts. */
export function inPack(e: FileEntry, pack: number, offset: number): PackedFileEntry {
  return { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256, pack, offset };
}

/**
 * Pure planners of the packed layout (DESIGN §5.2):
 * - `planPackedPush`: which contents the remote lacks (dedup by sha256 against the current version,
 *   what it retains, and inside the tree), which go to blobs, how the small ones are grouped into
 *   packs, and what the next version retains;
 * - `locateEntries`: the new version's entries once the packs are built (offsets are known then);
 * - `planPackReads`: which byte ranges a pull reads — one member, neighbours coalesced into one
 *   ranged GET, or the whole pack when most of it is needed.
 */
import { isFile, sameContent, type FileEntry, type ManifestEntry } from '../manifest/types.js';
import { bySha256, inPack, RETAIN_PUSHES, TAR_BLOCK, type PackedEntry, type PackedManifest, type PackRef, type RetainedContent } from '../manifest/packed.js';

const MiB = 1024 * 1024;

export interface PackOptions {
  /** Files up to this size go into packs; bigger ones become blobs. */
  smallFileMax: number;
  /** A pack is closed before it would grow past this size (tar overhead included). */
  packTarget: number;
}

/** restic packs at 16 MiB, kopia at 20 MiB; 16 MiB stays a single PUT on every store. */
export const DEFAULT_PACK_OPTIONS: PackOptions = { smallFileMax: 1 * MiB, packTarget: 16 * MiB };

/** A content the next version retains, before its location is looked up (locateEntries). */
export type RetainedPlan = Omit<RetainedContent, 'pack' | 'offset'>;

export type ContentLocation = { kind: 'pack'; pack: PackRef; offset: number } | { kind: 'blob' } | { kind: 'empty' };

export interface PackedPushPlan {
  /** New big contents, one entry per distinct sha256 (the first path that has it: where to read it). */
  blobs: FileEntry[];
  /** New small contents grouped into packs, one entry per distinct sha256, in path order. */
  packs: FileEntry[][];
  /** Where every content the current version already stores (or retains) lives. */
  known: Map<string, ContentLocation>;
  /** What the next version retains: contents that left the tree within RETAIN_PUSHES pushes. */
  retained: RetainedPlan[];
  /** Files whose content is new to the remote. */
  newFiles: number;
  /** Entries identical (path, content, mode or link) to the current version's. */
  unchanged: number;
  /** Paths the current version lists and the tree does not. */
  removed: number;
  /** False when the tree is the current version's, entry for entry: nothing is written. */
  changed: boolean;
}

const pad = (n: number) => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;

/** Where each content of a packed manifest (its files and what it retains) lives. */
export function locationsOf(m: PackedManifest): Map<string, ContentLocation> {
  const known = new Map<string, ContentLocation>();
  const add = (e: { sha256: string; size: number; pack?: number; offset?: number }) => {
    if (known.has(e.sha256)) return;
    if (e.size === 0) known.set(e.sha256, { kind: 'empty' });
    else if (e.pack !== undefined) known.set(e.sha256, { kind: 'pack', pack: m.packs[e.pack]!, offset: e.offset! });
    else known.set(e.sha256, { kind: 'blob' });
  };
  for (const e of m.files) if (isFile(e)) add(e);
  for (const r of m.retained) add(r);
  return known;
}

/**
 * What the version after `current` retains: each stored content of `current` (listed or retained)
 * that the tree no longer has, one push older, as long as that is within RETAIN_PUSHES.
 */
export function retainedAfter(current: PackedManifest | null, local: readonly ManifestEntry[]): RetainedPlan[] {
  if (!current) return [];
  const inTree = new Set<string>();
  for (const e of local) if (isFile(e)) inTree.add(e.sha256);
  const out = new Map<string, RetainedPlan>();
  for (const e of current.files) {
    if (isFile(e) && e.size > 0 && !inTree.has(e.sha256)) out.set(e.sha256, { sha256: e.sha256, size: e.size, age: 1 });
  }
  for (const r of current.retained) {
    if (r.age < RETAIN_PUSHES && !inTree.has(r.sha256) && !out.has(r.sha256)) out.set(r.sha256, { sha256: r.sha256, size: r.size, age: r.age + 1 });
  }
  return [...out.values()];
}

export function planPackedPush(local: readonly ManifestEntry[], current: PackedManifest | null, o: PackOptions = DEFAULT_PACK_OPTIONS): PackedPushPlan {
  const known = current ? locationsOf(current) : new Map<string, ContentLocation>();
  const before = new Map<string, ManifestEntry>((current?.files ?? []).map((e) => [e.path, e]));
  const blobs: FileEntry[] = [];
  const small: FileEntry[] = [];
  const planned = new Set<string>();
  let newFiles = 0;
  let unchanged = 0;
  for (const e of local) {
    const old = before.get(e.path);
    if (old && sameContent(old, e)) unchanged++;
    if (!isFile(e) || e.size === 0 || known.has(e.sha256)) continue;
    newFiles++;
    if (planned.has(e.sha256)) continue; // a copy inside the tree: stored once
    planned.add(e.sha256);
    (e.size > o.smallFileMax ? blobs : small).push(e);
  }
  const packs: FileEntry[][] = [];
  let group: FileEntry[] = [];
  let size = 2 * TAR_BLOCK;
  for (const e of small) {
    const footprint = TAR_BLOCK + pad(e.size);
    if (group.length > 0 && size + footprint > o.packTarget) {
      packs.push(group);
      group = [];
      size = 2 * TAR_BLOCK;
    }
    group.push(e);
    size += footprint;
  }
  if (group.length > 0) packs.push(group);
  const localPaths = new Set(local.map((e) => e.path));
  const removed = (current?.files ?? []).filter((e) => !localPaths.has(e.path)).length;
  const changed = current === null || removed > 0 || unchanged !== local.length;
  // Only a version that is written needs it: a no-change push skips a pass over every entry.
  return { blobs, packs, known, retained: changed ? retainedAfter(current, local) : [], newFiles, unchanged, removed, changed };
}

/** A pack the push built and uploaded: its reference and where each content sits in it. */
export interface UploadedPack {
  ref: PackRef;
  members: { sha256: string; offset: number }[];
}

/**
 * The new version's entries and pack list: each file (and each retained content) points at the
 * pack holding its content (reused or just uploaded), or at its blob. Packs are listed by
 * sha256, so equal trees with equal packs give equal bytes.
 */
export function locateEntries(
  local: readonly ManifestEntry[],
  known: ReadonlyMap<string, ContentLocation>,
  uploaded: readonly UploadedPack[],
  uploadedBlobs: Iterable<string>,
  retain: readonly RetainedPlan[] = [],
): { files: PackedEntry[]; packs: PackRef[]; retained: RetainedContent[] } {
  const where = new Map<string, ContentLocation>(known);
  for (const sha256 of uploadedBlobs) where.set(sha256, { kind: 'blob' });
  for (const p of uploaded) for (const m of p.members) where.set(m.sha256, { kind: 'pack', pack: p.ref, offset: m.offset });
  const used = new Map<string, PackRef>();
  const use = (sha256: string) => {
    const loc = where.get(sha256);
    if (loc?.kind === 'pack') used.set(loc.pack.sha256, loc.pack);
  };
  for (const e of local) if (isFile(e) && e.size > 0) use(e.sha256);
  for (const r of retain) use(r.sha256);
  const packs = [...used.values()].sort(bySha256);
  const index = new Map(packs.map((p, i) => [p.sha256, i]));
  const files = local.map((e): PackedEntry => {
    if (!isFile(e)) return e;
    const plain = { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 };
    if (e.size === 0) return plain;
    const loc = where.get(e.sha256);
    // A content that is neither known nor uploaded is a bug in the caller, never a silent hole.
    if (!loc) throw new Error(`no location for ${e.path} (${e.sha256})`);
    return loc.kind === 'pack' ? inPack(e, index.get(loc.pack.sha256)!, loc.offset) : plain;
  });
  const retained = retain.map((r): RetainedContent => {
    const loc = where.get(r.sha256);
    if (!loc || loc.kind === 'empty') throw new Error(`no location for retained content ${r.sha256}`);
    return loc.kind === 'pack' ? { sha256: r.sha256, size: r.size, pack: index.get(loc.pack.sha256)!, offset: loc.offset, age: r.age } : { ...r };
  });
  return { files, packs, retained };
}

export interface WantedMember {
  sha256: string;
  size: number;
  pack: PackRef;
  offset: number;
}

export interface PackRead {
  pack: PackRef;
  /** [start, end) inside the pack. */
  start: number;
  end: number;
  members: { sha256: string; offset: number; size: number }[];
}

export interface ReadOptions {
  /** Neighbours closer than this are read in one request (the gap is read and dropped). */
  gapMax: number;
  /** When the members needed make up at least this share of a pack, the whole pack is read. */
  wholeFraction: number;
}

export const DEFAULT_READ_OPTIONS: ReadOptions = { gapMax: 256 * 1024, wholeFraction: 0.5 };

export function planPackReads(wanted: readonly WantedMember[], o: ReadOptions = DEFAULT_READ_OPTIONS): PackRead[] {
  const byPack = new Map<string, { pack: PackRef; members: Map<string, WantedMember> }>();
  for (const w of wanted) {
    if (w.size === 0) continue;
    let g = byPack.get(w.pack.sha256);
    if (!g) byPack.set(w.pack.sha256, (g = { pack: w.pack, members: new Map() }));
    g.members.set(w.sha256, w);
  }
  const reads: PackRead[] = [];
  for (const { pack, members } of byPack.values()) {
    const sorted = [...members.values()].sort((a, b) => a.offset - b.offset).map((m) => ({ sha256: m.sha256, offset: m.offset, size: m.size }));
    const needed = sorted.reduce((n, m) => n + m.size, 0);
    if (needed >= o.wholeFraction * pack.size) {
      reads.push({ pack, start: 0, end: pack.size, members: sorted });
      continue;
    }
    let cur: PackRead | null = null;
    for (const m of sorted) {
      if (cur && m.offset - cur.end <= o.gapMax) {
        cur.end = Math.max(cur.end, m.offset + m.size);
        cur.members.push(m);
      } else {
        cur = { pack, start: m.offset, end: m.offset + m.size, members: [m] };
        reads.push(cur);
      }
    }
  }
  return reads;
}

/**
 * How a tree is split into layers, so that an edit re-uploads a small layer, not the whole tree
 * (jib splits dependencies, resources and classes for the same reason):
 * - files of LARGE_FILE bytes or more (data, models, wheels) go together into one layer below
 *   the code: they rarely change;
 * - the other entries, in path order, are cut into groups of about `target` bytes: after each
 *   entry, a cut when a hash of its path, as a fraction of 1, is below (size + header) / target.
 *   A cut depends on that entry alone (its path, and its size only through that ratio), never
 *   on contents or neighbours, so editing a file changes one layer (two in the rare case its
 *   new size flips its own cut), and adding or removing a file changes one or two.
 * - target = max(MIN_TARGET, the power of two at or above total / MAX_GROUPS): a tree a few times
 *   bigger gets bigger layers instead of hundreds; it only moves when the total crosses a power
 *   of two.
 * Measured on the bench's 5,000 files (232 MiB): see bench/results/image.md.
 */
import { createHash } from 'node:crypto';
import { isFile, type ManifestEntry } from '../manifest/types.js';

export const LARGE_FILE = 4 * 1024 * 1024;
const MIN_TARGET = 4 * 1024 * 1024;
const MAX_GROUPS = 24;
/** What an entry costs in the tar beyond its bytes (its header), so empty files count too. */
const ENTRY_OVERHEAD = 512;

export interface LayerGroup {
  /** For the config's history: what the layer holds. */
  label: string;
  entries: ManifestEntry[];
}

export interface SplitOptions {
  /** 1: everything in one layer (what the bench compares against). */
  maxLayers?: number;
}

const sizeOf = (e: ManifestEntry) => (isFile(e) ? e.size : 0) + ENTRY_OVERHEAD;

export function splitIntoLayers(entries: readonly ManifestEntry[], o: SplitOptions = {}): LayerGroup[] {
  if (o.maxLayers === 1 || entries.length === 0) return [{ label: 'flow code', entries: [...entries] }];
  const large = entries.filter((e) => isFile(e) && e.size >= LARGE_FILE);
  const rest = entries.filter((e) => !(isFile(e) && e.size >= LARGE_FILE));
  if (rest.length === 0) return [{ label: 'flow code', entries: large }];
  const groups: LayerGroup[] = [];
  if (large.length > 0) groups.push({ label: `flow code: ${large.length} file(s) of ${LARGE_FILE / 1024 / 1024} MiB or more`, entries: large });
  const total = rest.reduce((n, e) => n + sizeOf(e), 0);
  const target = Math.max(MIN_TARGET, 2 ** Math.ceil(Math.log2(total / MAX_GROUPS)));
  let current: ManifestEntry[] = [];
  for (const e of rest) {
    current.push(e);
    if (pathFraction(e.path) < sizeOf(e) / target) {
      groups.push(codeGroup(current));
      current = [];
    }
  }
  if (current.length > 0) groups.push(codeGroup(current));
  return groups;
}

function codeGroup(entries: ManifestEntry[]): LayerGroup {
  return { label: `flow code: ${entries[0]!.path} … ${entries[entries.length - 1]!.path}`, entries };
}

/** The path's hash as a number in [0, 1). */
function pathFraction(path: string): number {
  return createHash('sha256').update(path).digest().readUInt32BE(0) / 2 ** 32;
}

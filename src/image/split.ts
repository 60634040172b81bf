/**
 * How a tree is split into layers, so that an edit re-uploads a small layer, not the whole tree
 * (jib splits dependencies, resources and classes for the same reason):
 * - files of LARGE_FILE bytes or more (data, models, wheels) go together into one layer below
 *   the code: they rarely change;
 * - the other entries, in path order, are cut into groups where a path's hash says so (a cut
 *   after every path whose hash is 0 mod M, M a power of two near count / TARGET_GROUPS). Cuts
 *   depend only on paths, never on contents or on the neighbours, so editing a file changes
 *   exactly one layer, and adding or removing one changes one (two at a cut).
 * Small trees (under MIN_SPLIT entries) are one code layer.
 */
import { createHash } from 'node:crypto';
import { isFile, type ManifestEntry } from '../manifest/types.js';

export const LARGE_FILE = 4 * 1024 * 1024;
const MIN_SPLIT = 256;
const TARGET_GROUPS = 4;

export interface LayerGroup {
  /** For the config's history: what the layer holds. */
  label: string;
  entries: ManifestEntry[];
}

export interface SplitOptions {
  /** 1: everything in one layer (what the bench compares against). */
  maxLayers?: number;
}

export function splitIntoLayers(entries: readonly ManifestEntry[], o: SplitOptions = {}): LayerGroup[] {
  if (o.maxLayers === 1 || entries.length === 0) return [{ label: 'flow code', entries: [...entries] }];
  const large = entries.filter((e) => isFile(e) && e.size >= LARGE_FILE);
  const rest = entries.filter((e) => !(isFile(e) && e.size >= LARGE_FILE));
  const groups: LayerGroup[] = [];
  if (large.length > 0 && rest.length > 0) groups.push({ label: `flow code: ${large.length} file(s) of ${LARGE_FILE / 1024 / 1024} MiB or more`, entries: large });
  else if (large.length > 0) return [{ label: 'flow code', entries: large }];
  if (rest.length < MIN_SPLIT) {
    groups.push({ label: large.length ? 'flow code: the other files' : 'flow code', entries: rest });
    return groups;
  }
  const modulus = 2 ** Math.floor(Math.log2(rest.length / TARGET_GROUPS));
  let current: ManifestEntry[] = [];
  for (const e of rest) {
    current.push(e);
    if (cutAfter(e.path, modulus)) {
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

function cutAfter(path: string, modulus: number): boolean {
  return createHash('sha256').update(path).digest().readUInt32BE(0) % modulus === 0;
}

/**
 * The edits between scenarios: change or delete a fraction of the files a push takes, chosen
 * deterministically from the seed, and keep the expected facts of the tree up to date.
 * Large data files are left alone (a 1 % code change does not rewrite the model files).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { FileSpec } from './generate.js';
import { writeSpec } from './generate.js';
import { Rng } from './rng.js';
import { hashFile, type TreeFacts } from './tree.js';

export interface WorkTree {
  root: string;
  seed: string;
  /** Expected facts of the files a push takes. */
  facts: TreeFacts;
  /** Role of each taken file (generated trees know it; for --data trees it is guessed by size). */
  roles: Map<string, FileSpec['role']>;
  /** Bumped by every change, so each change writes new bytes. */
  generation: number;
}

const LARGE = 8 * 1024 * 1024;

function candidates(t: WorkTree): string[] {
  return [...t.facts.keys()].filter((p) => (t.roles.get(p) ?? 'source') !== 'large' && t.facts.get(p)!.size < LARGE).sort();
}

function countFor(total: number, fraction: number): number {
  return Math.max(1, Math.round(total * fraction));
}

/** Rewrite `fraction` of the files: half keep their size (a same-size edit), half grow or shrink a little. */
export async function changeFiles(t: WorkTree, fraction: number, label: string): Promise<string[]> {
  t.generation++;
  const rng = new Rng(`change:${label}:${t.seed}:${t.generation}`);
  const pool = candidates(t);
  const chosen = rng.sample(pool, countFor(t.facts.size, fraction));
  for (const p of chosen) {
    const old = t.facts.get(p)!;
    const delta = rng.int(1, 512) * (rng.next() < 0.5 ? -1 : 1);
    const size = rng.next() < 0.5 ? old.size : Math.max(1, old.size + delta);
    const content = (t.roles.get(p) ?? 'source') === 'asset' ? 'binary' : 'text';
    await writeSpec(t.root, t.seed, { path: p, size, content }, t.generation);
    t.facts.set(p, await hashFile(path.join(t.root, ...p.split('/'))));
  }
  return chosen.sort();
}

export function deleteFiles(t: WorkTree, fraction: number, label: string): string[] {
  const rng = new Rng(`delete:${label}:${t.seed}:${t.generation}`);
  const chosen = rng.sample(candidates(t), countFor(t.facts.size, fraction));
  for (const p of chosen) {
    rmSync(path.join(t.root, ...p.split('/')));
    t.facts.delete(p);
    t.roles.delete(p);
  }
  return chosen.sort();
}

/**
 * Where a version came from: the flowsync version, the host, and, when the pushed folder is in a
 * git work tree, its commit and whether the work tree differed from it (untracked files count:
 * they are pushed too). Git missing or failing only leaves `git` out.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Provenance } from '../manifest/packed.js';

const GIT_TIMEOUT_MS = 10_000;

function git(dir: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-C', dir, ...args], { timeout: GIT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' } }, (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
}

export async function gitProvenance(dir: string): Promise<Provenance['git'] | undefined> {
  const inside = await git(dir, ['rev-parse', '--is-inside-work-tree']);
  if (inside?.trim() !== 'true') return undefined;
  const commit = (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD']))?.trim();
  if (!commit) return undefined; // a repository without commits
  const status = await git(dir, ['status', '--porcelain', '--', '.']);
  return { commit, dirty: status === null || status.trim() !== '' };
}

let version: string | undefined;

/** flowsync's own version, from the package.json above this module (built or bundled alike). */
export function flowsyncVersion(): string {
  if (version) return version;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'flowsync' && pkg.version) return (version = pkg.version);
    } catch {
      // no package.json here: keep climbing
    }
    if (path.dirname(dir) === dir) return (version = 'unknown');
  }
}

export async function provenanceOf(dir: string): Promise<Provenance> {
  const g = await gitProvenance(dir);
  return { flowsync: flowsyncVersion(), host: os.hostname(), ...(g ? { git: g } : {}) };
}

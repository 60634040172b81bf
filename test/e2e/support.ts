/** Shared pieces of the end-to-end tests: temp folders, the built CLI, a stat-cache folder of their own. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgressEvent } from '../../src/sync/types.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli', 'main.js');

/**
 * A fresh folder for one test file. On Linux it goes to /dev/shm (tmpfs) when there is one: these
 * tests create and delete tens of thousands of files, and on a shared disk mounted with `discard`
 * the deletes alone took 40 s. They are real files either way.
 */
export function tempDir(label: string): string {
  const shm = '/dev/shm';
  let base = os.tmpdir();
  try {
    fs.accessSync(shm, fs.constants.W_OK);
    if (fs.statfsSync(shm).bavail * fs.statfsSync(shm).bsize > 2 * 1024 ** 3) base = shm;
  } catch {
    // no tmpfs here: the system temp folder
  }
  return fs.mkdtempSync(path.join(base, `flowsync-${label}-`));
}

/** `dir` emptied, then holding exactly `files` (relative path → text). Returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), text);
  }
  return dir;
}

export function removeDir(dir: string): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** The CLI must be built (npm run build; `npm test` does it first). Fails loudly when it is not. */
export function requireBuiltCli(): void {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before these tests (npm test does).`);
  const built = fs.statSync(cliPath).mtimeMs;
  const stale = ['src/cli', 'src/cache', 'src/sync', 'src/plan', 'src/transfer', 'src/hash', 'src/manifest', 'src/walk', 'src/image', 'src/steps']
    .flatMap((d) => fs.readdirSync(path.join(repoRoot, d), { recursive: true, encoding: 'utf8' }).map((f) => path.join(repoRoot, d, f)))
    .filter((f) => f.endsWith('.ts') && fs.statSync(f).mtimeMs > built);
  if (stale.length > 0) {
    process.stderr.write(`warning: dist/ is older than ${stale.length} source file(s) (${path.relative(repoRoot, stale[0]!)}...): the CLI tests run the last build. Run "npm run build".\n`);
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(cacheDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FLOWSYNC_CACHE_DIR: cacheDir, ...extra };
  delete env.FLOWSYNC_DEBUG;
  delete env.CI;
  return env;
}

/** Start the built CLI; `result` settles when it exits. */
export interface CliRunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Run as this user (only root may): e.g. NOBODY, where a test needs permissions to bite. */
  user?: { uid: number; gid: number };
}

export function startCli(args: string[], o: CliRunOptions): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: o.env, cwd: o.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe'], ...(o.user ?? {}) });
  const result = new Promise<CliResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  child.stdin!.end(o.input ?? '');
  return { child, result };
}

/** Run the built CLI to completion (asynchronously, so a test can do other things meanwhile). */
export function runCli(args: string[], o: CliRunOptions): Promise<CliResult> {
  return startCli(args, o).result;
}

export function runCliSync(args: string[], env: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], { env, cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Collects progress events, for proving what an operation did (e.g. hashed no file). */
export function progressRecorder(): { events: ProgressEvent[]; onProgress: (e: ProgressEvent) => void; last: (phase: ProgressEvent['phase']) => ProgressEvent | undefined } {
  const events: ProgressEvent[] = [];
  return {
    events,
    onProgress: (e) => events.push({ ...e }),
    last: (phase) => events.filter((e) => e.phase === phase).at(-1),
  };
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The unprivileged user "nobody" (uid/gid 65534 on Linux), for tests that need permissions to apply. */
export const NOBODY = { uid: 65534, gid: 65534 };

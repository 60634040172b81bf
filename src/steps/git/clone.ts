/**
 * `git_clone`: clone (or update) a repository into `<cwd>/<repo name>[-<branch>]`, as Prefect's
 * GitRepository does — a `--depth 1` clone of a branch, or a blob-less clone + checkout of a
 * commit, `--recurse-submodules`, sparse `directories`, 3 attempts with jittered backoff — with
 * the credentials carried by a scoped auth header instead of the URL (see auth.ts).
 *
 * An existing clone with the same origin is brought to the remote's tip (fetch + reset, so
 * local edits to tracked files are discarded, as the re-clone Prefect falls back to would);
 * a clone of another origin, or one that cannot be updated, is removed and cloned again.
 * A folder in the way that is not a git clone is never removed: that is an error.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowsyncError, throwIfAborted } from '../../errors.js';
import type { StepContext, StepDefinition, StepResult } from '../types.js';
import { authSettings, formatGitCredential, gitConfigEnv, splitUrlCredentials, type GitCredentialFields } from './auth.js';
import { GitFailure, gitSucceeds, runGit, type GitRunOptions } from './run-git.js';

/** Attempts and backoff (jittered exponential, 1 s doubling up to 10 s), as Prefect retries. */
export const gitRetryPolicy = { attempts: 3, baseMs: 1000, maxMs: 10_000 };

interface CloneSpec {
  url: string;
  branch?: string;
  commitSha?: string;
  submodules: boolean;
  directories?: string[];
  dest: string;
}

export function validateGitCloneArgs(args: Record<string, unknown>, label: string): void {
  const bad = (msg: string): FlowsyncError => new FlowsyncError('INVALID_INPUT', `${label}: ${msg}`);
  if (args['access_token'] && args['credentials']) throw bad('give either access_token or credentials, not both.');
  const branch = args['branch'] as string | undefined;
  const sha = args['commit_sha'] as string | undefined;
  if (branch && sha) throw bad('give either branch or commit_sha, not both.');
  if (branch && branch.startsWith('-')) throw bad(`branch names cannot start with "-" (got "${branch}").`);
  if (sha && !/^[0-9a-fA-F]{4,64}$/.test(sha)) throw bad(`commit_sha must be 4 to 64 hexadecimal characters (got "${sha}").`);
  const creds = args['credentials'] as GitCredentialFields | undefined;
  if (creds && creds.username && !(creds.access_token || creds.token || creds.password)) {
    throw bad('the credentials give a username but no access_token, token or password.');
  }
}

/** Prefect's default folder name: last URL path segment without ".git", plus "-<branch>" (/ → -). */
export function defaultCloneName(url: string, branch?: string): string {
  let pathPart = url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    try {
      pathPart = new URL(url).pathname;
    } catch {
      /* keep the raw text, as Python's urlparse would */
    }
  }
  // Python's str.replace removes every ".git", not only a suffix; kept for identical folder names.
  const repo = (pathPart.split('/').pop() ?? '').replaceAll('.git', '');
  return branch ? `${repo}-${branch.replaceAll('/', '-')}` : repo;
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

function sameRepository(a: string, b: string): boolean {
  const norm = (u: string): string => splitUrlCredentials(u.trim()).url.replace(/\/+$/, '').replace(/\.git$/, '').toLowerCase();
  return norm(a) === norm(b);
}

async function clone(s: CloneSpec, g: GitRunOptions): Promise<void> {
  const args = ['clone', '--quiet'];
  if (s.submodules) args.push('--recurse-submodules');
  if (s.directories) args.push('--sparse');
  if (s.commitSha) args.push('--filter=blob:none', '--no-checkout');
  else {
    if (s.branch) args.push('--branch', s.branch);
    args.push('--depth', '1');
  }
  args.push('--', s.url, s.dest);
  await runGit(args, g);
  const inDest = { ...g, cwd: s.dest };
  if (s.commitSha) await checkoutCommit(s, inDest);
  if (s.directories) await runGit(['sparse-checkout', 'set', '--', ...s.directories], inDest);
}

async function checkoutCommit(s: CloneSpec, g: GitRunOptions): Promise<void> {
  const sha = s.commitSha as string;
  if (!(await gitSucceeds(['cat-file', '-e', `${sha}^{commit}`], g))) {
    const shallow = (await runGit(['rev-parse', '--is-shallow-repository'], g).catch(() => 'false')).trim() === 'true';
    if (shallow) {
      await runGit(['fetch', '--quiet', '--unshallow', 'origin'], g);
    } else {
      await runGit(['fetch', '--quiet', 'origin', sha], g);
    }
  }
  await runGit(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', sha], g);
  if (s.submodules) await runGit(['submodule', 'update', '--quiet', '--init', '--recursive'], g);
}

async function update(s: CloneSpec, g: GitRunOptions): Promise<void> {
  if (s.directories && (await runGit(['config', '--get', 'core.sparseCheckout'], g).catch(() => '')).trim() !== 'true') {
    await runGit(['sparse-checkout', 'set', '--', ...s.directories], g);
  }
  if (s.commitSha) {
    const head = (await runGit(['rev-parse', 'HEAD'], g).catch(() => '')).trim().toLowerCase();
    if (head && head.startsWith(s.commitSha.toLowerCase())) return;
    await checkoutCommit(s, g);
    return;
  }
  await runGit(['fetch', '--quiet', '--depth', '1', 'origin', s.branch ?? 'HEAD'], g);
  await runGit(['reset', '--quiet', '--hard', 'FETCH_HEAD'], g);
  if (s.submodules) await runGit(['submodule', 'update', '--quiet', '--init', '--recursive'], g);
}

async function pullCode(s: CloneSpec, g: GitRunOptions, ctx: StepContext): Promise<void> {
  const inDest = { ...g, cwd: s.dest };
  if (await exists(path.join(s.dest, '.git'))) {
    const origin = (await runGit(['config', '--get', 'remote.origin.url'], inDest).catch(() => '')).trim();
    if (origin && sameRepository(origin, s.url)) {
      try {
        await update(s, inDest);
        return;
      } catch (err) {
        if (err instanceof GitFailure && (err.code === 'AUTH' || err.code === 'PERMISSION')) throw err;
        ctx.log.warn(`${ctx.label}: could not update the existing clone in ${s.dest} (${(err as Error).message}); cloning it again.`);
      }
    } else {
      ctx.log.warn(`${ctx.label}: ${s.dest} is a clone of ${origin || 'an unknown origin'}, not ${s.url}; replacing it with a fresh clone.`);
    }
    await fsp.rm(s.dest, { recursive: true, force: true });
  } else if (await exists(s.dest)) {
    const entries = await fsp.readdir(s.dest).catch(() => null);
    if (entries === null || entries.length > 0) {
      throw new FlowsyncError(
        'CONFLICT',
        `${ctx.label}: ${s.dest} exists and is not a git clone, so it cannot be cloned into. Move it away, or set clone_directory_name to another folder.`,
      );
    }
  }
  try {
    await clone(s, g);
  } catch (err) {
    // Leave no half clone behind: the next attempt (or run) starts clean.
    await fsp.rm(s.dest, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

async function withRetries(ctx: StepContext, work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await work();
      return;
    } catch (err) {
      const again = err instanceof GitFailure && err.worthRetrying && attempt < gitRetryPolicy.attempts;
      if (!again) throw err;
      const cap = Math.min(gitRetryPolicy.maxMs, gitRetryPolicy.baseMs * 2 ** (attempt - 1));
      const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
      ctx.log.warn(`${(err as Error).message} — attempt ${attempt} of ${gitRetryPolicy.attempts}, retrying in ${(delay / 1000).toFixed(1)} s.`);
      await sleep(delay, undefined, { signal: ctx.signal }).catch(() => throwIfAborted(ctx.signal));
    }
  }
}

async function gitClone(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult> {
  validateGitCloneArgs(args, ctx.label);
  const given = args['repository'] as string;
  const { url, creds: urlCreds } = splitUrlCredentials(given);
  const creds: GitCredentialFields | undefined = args['access_token']
    ? { access_token: args['access_token'] }
    : ((args['credentials'] as GitCredentialFields | undefined) ?? urlCreds);

  const settings: Array<[string, string]> = [];
  if (creds) {
    if (url.startsWith('https://')) {
      const formatted = formatGitCredential(new URL(url).host, creds, ctx.label);
      settings.push(...authSettings(url, formatted));
    } else {
      ctx.log.warn(`${ctx.label}: credentials are only used with https:// repository URLs (as in Prefect); ${url} is cloned without them.`);
    }
  }
  const branch = (args['branch'] as string | undefined) || undefined;
  const name = (args['clone_directory_name'] as string | undefined) || defaultCloneName(url, branch);
  if (!name || name === '.' || name === '..') {
    throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: cannot name a folder after ${url}: set clone_directory_name.`);
  }
  const dest = path.resolve(ctx.cwd, name);
  const directories = args['directories'] as string[] | undefined;
  const spec: CloneSpec = {
    url,
    ...(branch ? { branch } : {}),
    ...(args['commit_sha'] ? { commitSha: String(args['commit_sha']) } : {}),
    submodules: args['include_submodules'] === true,
    ...(directories && directories.length > 0 ? { directories } : {}),
    dest,
  };
  const env = gitConfigEnv({ ...ctx.env, GIT_TERMINAL_PROMPT: '0', ...(settings.length > 0 ? { GIT_ASKPASS: '' } : {}) }, settings);
  const g: GitRunOptions = { cwd: ctx.cwd, env, signal: ctx.signal, label: ctx.label, withCredentials: settings.length > 0 };
  await withRetries(ctx, () => pullCode(spec, g, ctx));
  const directory = path.relative(ctx.cwd, dest) || '.';
  ctx.log.info(`Cloned repository ${url} into ${directory}`);
  return { outputs: { directory } };
}

export const gitCloneStep: StepDefinition = {
  name: 'prefect.deployments.steps.git_clone',
  aliases: ['prefect.deployments.steps.pull.git_clone'],
  params: {
    repository: { kind: 'string', required: true },
    branch: { kind: 'string' },
    commit_sha: { kind: 'string' },
    include_submodules: { kind: 'boolean' },
    access_token: { kind: 'string' },
    credentials: { kind: 'mapping' },
    directories: { kind: 'string-list' },
    clone_directory_name: { kind: 'string' },
  },
  run: gitClone,
};

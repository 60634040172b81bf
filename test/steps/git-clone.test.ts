/**
 * git_clone against real git: `git http-backend` behind a local https server with Basic auth
 * (test/servers/git-http.ts). Each case runs a real prefect.yaml pull section through runSteps.
 * Besides the clone results, every case checks that the token is nowhere: not in the step's
 * outputs, logs or errors, not in any file of the clone (`.git/config` and submodules'
 * included), and not in git's argv (a wrapper on PATH records every git command line).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { runSteps, type RunStepsResult } from '../../src/steps/index.js';
import { basicAuthHeader, formatGitCredential } from '../../src/steps/git/auth.js';
import { defaultCloneName } from '../../src/steps/git/clone.js';
import { commitFiles, commitSubmodule, git, plainGitEnv, startGitHttp, type GitHttpServer } from '../servers/git-http.js';

const token = `tok_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
let server: GitHttpServer;
let base: string;
let argvLog: string;
let env: NodeJS.ProcessEnv;
let sha1: string;
let sha2: string;
let subSha: string;

/** Every spelling of the token that could leak: raw, URL-encoded, in Basic auth (user and password positions). */
function tokenForms(t: string): string[] {
  return [t, encodeURIComponent(t), Buffer.from(`${t}:`).toString('base64'), Buffer.from(`alice:${t}`).toString('base64'), basicAuthHeader(t).slice(6)];
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(full));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

function expectNoToken(where: string, text: string, t = token): void {
  for (const form of tokenForms(t)) expect(text.includes(form), `${where} contains the token (${form})`).toBe(false);
}

function expectTreeHasNoToken(dir: string, t = token): void {
  const files = filesUnder(dir);
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) expectNoToken(f, readFileSync(f).toString('latin1'), t);
}

interface Run {
  result?: RunStepsResult;
  error?: Error;
  logs: string[];
  cwd: string;
}

async function pullWith(step: string, cwd = mkdtempSync(path.join(base, 'run-'))): Promise<Run> {
  writeFileSync(path.join(cwd, 'prefect.yaml'), `pull:\n  - prefect.deployments.steps.git_clone:\n      id: clone\n${step.replace(/^/gm, '      ')}\n`);
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };
  try {
    const result = await runSteps({ section: 'pull', cwd, env, log });
    return { result, logs, cwd };
  } catch (error) {
    return { error: error as Error, logs, cwd };
  }
}

function expectRunLeaksNothing(run: Run, t = token): void {
  expectNoToken('logs', run.logs.join('\n'), t);
  if (run.result) expectNoToken('outputs', JSON.stringify(run.result), t);
  if (run.error) expectNoToken('error', `${run.error.message}\n${run.error.stack ?? ''}`, t);
  expectNoToken('git argv', readFileSync(argvLog, 'utf8'), t);
}

beforeAll(async () => {
  base = mkdtempSync(path.join(os.tmpdir(), 'flowsync-git-clone-'));
  server = await startGitHttp({ token });
  sha1 = commitFiles(server.root, 'flows', { 'README.md': 'hello\n', 'flows/etl.py': 'print(1)\n', 'docs/guide.md': 'guide\n', 'lib/util.py': 'x = 1\n' });
  sha2 = commitFiles(server.root, 'flows', { 'flows/etl.py': 'print(2)\n' });
  commitFiles(server.root, 'flows', { 'feature.txt': 'feature work\n' }, { branch: 'feature/x' });
  subSha = commitFiles(server.root, 'sub', { 'sub.txt': 'from the submodule\n' });
  commitSubmodule(server.root, 'flows', 'vendor/sub', `${server.url}/sub.git`, subSha);

  // A `git` on PATH that records its argv, then runs the real git.
  const bin = path.join(base, 'bin');
  mkdirSync(bin);
  argvLog = path.join(base, 'git-argv.log');
  writeFileSync(argvLog, '');
  const realGit = execPathOfGit();
  writeFileSync(path.join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${realGit}' "$@"\n`);
  chmodSync(path.join(bin, 'git'), 0o755);
  env = { ...plainGitEnv(server.env), PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` };
});

afterAll(async () => {
  await server?.stop();
  rmSync(base, { recursive: true, force: true });
});

function execPathOfGit(): string {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const p = path.join(dir, 'git');
    if (existsSync(p)) return p;
  }
  throw new Error('git not found on PATH');
}

describe('git_clone over https with Basic auth', () => {
  it('clones a branch with an access token into <repo>-<branch>', async () => {
    const run = await pullWith(`repository: ${server.url}/flows.git\nbranch: feature/x\naccess_token: ${token}`);
    expect(run.error).toBeUndefined();
    const dest = path.join(run.cwd, 'flows-feature-x');
    expect(run.result!.outputs['directory']).toBe('flows-feature-x');
    expect(run.result!.outputs['clone']).toEqual({ directory: 'flows-feature-x' });
    expect(run.result!.directory).toBe(dest);
    expect(readFileSync(path.join(dest, 'feature.txt'), 'utf8')).toBe('feature work\n');
    expect(git(dest, ['rev-parse', '--is-shallow-repository'])).toBe('true');
    expect(git(dest, ['config', '--get', 'remote.origin.url'])).toBe(`${server.url}/flows.git`);
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(run);
  });

  it('clones the default branch with username + token credentials, submodules included (authenticated too)', async () => {
    server.requests.length = 0;
    const run = await pullWith(`repository: ${server.url}/flows.git\ninclude_submodules: true\ncredentials:\n  username: alice\n  access_token: ${token}`);
    expect(run.error).toBeUndefined();
    const dest = path.join(run.cwd, 'flows');
    expect(readFileSync(path.join(dest, 'flows/etl.py'), 'utf8')).toBe('print(2)\n');
    expect(readFileSync(path.join(dest, 'vendor/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
    // The submodule was fetched from the same server with the same credentials.
    const subRequests = server.requests.filter((r) => r.path.startsWith('/sub.git'));
    expect(subRequests.length).toBeGreaterThan(0);
    expect(subRequests.some((r) => r.authorized && r.user === 'alice')).toBe(true);
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(run);
  });

  it('checks out a commit_sha (short form) with a blob-less clone', async () => {
    const run = await pullWith(`repository: ${server.url}/flows.git\ncommit_sha: "${sha1.slice(0, 12)}"\naccess_token: ${token}`);
    expect(run.error).toBeUndefined();
    const dest = path.join(run.cwd, 'flows');
    expect(git(dest, ['rev-parse', 'HEAD'])).toBe(sha1);
    expect(readFileSync(path.join(dest, 'flows/etl.py'), 'utf8')).toBe('print(1)\n');
    expect(git(dest, ['config', '--get', 'remote.origin.promisor'])).toBe('true');
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(run);
  });

  it('checks out only the sparse directories (plus top-level files, cone mode)', async () => {
    const run = await pullWith(`repository: ${server.url}/flows.git\ndirectories: [flows]\naccess_token: ${token}`);
    expect(run.error).toBeUndefined();
    const dest = path.join(run.cwd, 'flows');
    expect(existsSync(path.join(dest, 'flows/etl.py'))).toBe(true);
    expect(existsSync(path.join(dest, 'README.md'))).toBe(true);
    expect(existsSync(path.join(dest, 'docs'))).toBe(false);
    expect(existsSync(path.join(dest, 'lib'))).toBe(false);
    expect(git(dest, ['sparse-checkout', 'list'])).toBe('flows');
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(run);
  });

  it('updates an existing clone of the same origin in place', async () => {
    const repo = 'updating';
    commitFiles(server.root, repo, { 'flow.py': 'v1\n' });
    const first = await pullWith(`repository: ${server.url}/${repo}.git\naccess_token: ${token}`);
    expect(first.error).toBeUndefined();
    const dest = path.join(first.cwd, repo);
    const marker = path.join(dest, 'untracked-local-file');
    writeFileSync(marker, 'kept');
    const v2 = commitFiles(server.root, repo, { 'flow.py': 'v2\n', 'new.py': 'new\n' });
    const second = await pullWith(`repository: ${server.url}/${repo}.git\naccess_token: ${token}`, first.cwd);
    expect(second.error).toBeUndefined();
    expect(readFileSync(path.join(dest, 'flow.py'), 'utf8')).toBe('v2\n');
    expect(readFileSync(path.join(dest, 'new.py'), 'utf8')).toBe('new\n');
    expect(git(dest, ['rev-parse', 'HEAD'])).toBe(v2);
    // Updated, not re-cloned: a file the clone did not track is still there.
    expect(existsSync(marker)).toBe(true);
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(second);
  });

  it('replaces a clone of another origin with a fresh clone (and says so)', async () => {
    const cwd = mkdtempSync(path.join(base, 'run-'));
    const other = path.join(cwd, 'flows');
    mkdirSync(other);
    git(other, ['init', '--quiet']);
    git(other, ['remote', 'add', 'origin', 'https://example.invalid/someone/flows.git']);
    const run = await pullWith(`repository: ${server.url}/flows.git\naccess_token: ${token}`, cwd);
    expect(run.error).toBeUndefined();
    expect(git(other, ['config', '--get', 'remote.origin.url'])).toBe(`${server.url}/flows.git`);
    expect(run.logs.some((l) => /is a clone of https:\/\/example\.invalid\/someone\/flows\.git.*replacing it/.test(l))).toBe(true);
  });

  it('never removes a folder in the way that is not a git clone', async () => {
    const cwd = mkdtempSync(path.join(base, 'run-'));
    mkdirSync(path.join(cwd, 'flows'));
    writeFileSync(path.join(cwd, 'flows', 'precious.txt'), 'mine');
    const run = await pullWith(`repository: ${server.url}/flows.git\naccess_token: ${token}`, cwd);
    expect(isFlowsyncError(run.error, 'CONFLICT')).toBe(true);
    expect(run.error!.message).toMatch(/exists and is not a git clone/);
    expect(readFileSync(path.join(cwd, 'flows', 'precious.txt'), 'utf8')).toBe('mine');
  });

  it('a wrong token is a clear AUTH error, and neither token leaks', async () => {
    const wrong = `wrong_${token}_x`;
    const run = await pullWith(`repository: ${server.url}/flows.git\naccess_token: ${wrong}`);
    expect(isFlowsyncError(run.error, 'AUTH')).toBe(true);
    expect(run.error!.message).toMatch(/pull step 1 'git_clone'/);
    expect(run.error!.message).toMatch(/rejected the credentials/);
    expect(existsSync(path.join(run.cwd, 'flows'))).toBe(false);
    expectRunLeaksNothing(run, wrong);
    expectRunLeaksNothing(run);
  });

  it('no credentials against a private repository: AUTH error saying credentials are needed', async () => {
    const run = await pullWith(`repository: ${server.url}/flows.git`);
    expect(isFlowsyncError(run.error, 'AUTH')).toBe(true);
    expect(run.error!.message).toMatch(/The repository needs credentials: set access_token/);
  });

  it('a token written into the URL is moved out of it (never stored in .git/config)', async () => {
    const run = await pullWith(`repository: https://bob:${token}@127.0.0.1:${server.port}/flows.git\nclone_directory_name: from-url`);
    expect(run.error).toBeUndefined();
    const dest = path.join(run.cwd, 'from-url');
    expect(git(dest, ['config', '--get', 'remote.origin.url'])).toBe(`${server.url}/flows.git`);
    expectTreeHasNoToken(dest);
    expectRunLeaksNothing(run);
  });

  it('a missing branch is NOT_FOUND naming the branch problem', async () => {
    const run = await pullWith(`repository: ${server.url}/flows.git\nbranch: no-such-branch\naccess_token: ${token}`);
    expect(isFlowsyncError(run.error, 'NOT_FOUND')).toBe(true);
    expect(run.error!.message).toMatch(/branch or commit_sha/);
    expectRunLeaksNothing(run);
  });
});

describe('git_clone argument rules', () => {
  it.each<[string, RegExp]>([
    [`repository: https://h/r.git\naccess_token: a1b2c3d4\ncredentials: {token: zz99zz99}`, /either access_token or credentials, not both/],
    [`repository: https://h/r.git\nbranch: main\ncommit_sha: abcdef1`, /either branch or commit_sha, not both/],
    [`repository: https://h/r.git\nbranch: "-upload-pack=evil"`, /branch names cannot start with "-"/],
    [`repository: https://h/r.git\ncommit_sha: "xyz"`, /commit_sha must be 4 to 64 hexadecimal characters/],
    [`repository: https://h/r.git\ncommit_sha: "abc"`, /commit_sha must be 4 to 64/],
    [`repository: https://h/r.git\ncredentials: {username: alice}`, /username but no access_token, token or password/],
    [`branch: main`, /missing required argument "repository"/],
  ])('%s', async (step, message) => {
    const run = await pullWith(step);
    expect(isFlowsyncError(run.error, 'INVALID_INPUT')).toBe(true);
    expect(run.error!.message).toMatch(message);
    expect(run.error!.message).toMatch(/prefect\.yaml line 2: pull step 1 'git_clone'/);
  });
});

describe('git_clone helpers', () => {
  it.each<[string, string | undefined, string]>([
    ['https://github.com/org/repo.git', undefined, 'repo'],
    ['https://github.com/org/repo', 'main', 'repo-main'],
    ['https://github.com/org/repo.git', 'feature/a/b', 'repo-feature-a-b'],
    ['git@github.com:org/repo.git', undefined, 'repo'],
    ['https://github.com/org/my.github.git', undefined, 'myhub'], // Python's str.replace('.git', '') removes every occurrence
  ])('defaultCloneName(%s, %s) = %s', (url, branch, expected) => {
    expect(defaultCloneName(url, branch)).toBe(expected);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['github.com', { access_token: 'ghp_x1' }, 'ghp_x1'],
    ['github.com', { username: 'me', access_token: 'ghp_x1' }, 'me:ghp_x1'],
    ['github.com', { token: 'tkn1' }, 'tkn1'],
    ['github.com', { password: 'pw12' }, 'pw12'],
    ['bitbucket.org', { access_token: 'bbtok' }, 'x-token-auth:bbtok'],
    ['bitbucket.org', { access_token: 'x-token-auth:bbtok' }, 'x-token-auth:bbtok'],
    ['bitbucket.org', { access_token: 'user:bbtok' }, 'user:bbtok'],
    ['bitbucketserver.example.com', { access_token: 'user:pass' }, 'user:pass'],
    ['gitlab.com', { access_token: 'gltok' }, 'oauth2:gltok'],
    ['gitlab.example.com', { access_token: 'oauth2:gltok' }, 'oauth2:gltok'],
    ['gitlab.example.com', { access_token: 'deploy-user:gltok' }, 'deploy-user:gltok'], // prefect#16836
  ])('formatGitCredential(%s, %j) = %s', (host, creds, expected) => {
    expect(formatGitCredential(host, creds, 'test')).toBe(expected);
  });

  it('Bitbucket Server without a username is an error', () => {
    expect(() => formatGitCredential('bitbucketserver.example.com', { access_token: 'bare' }, 'test')).toThrow(/Bitbucket Server needs a username/);
  });
});

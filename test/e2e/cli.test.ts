/**
 * The CLI contract (DESIGN §7) on the local store: --json, status, scan, verify, --help, usage
 * errors (exit 2), bad input (exit 1/2, one clear line, nothing lost), special names, and Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees, excludeFlowsyncState, generateTree, snapshot, tempFiles, SPECIAL_NAMES } from '../helpers/tree.js';
import { cliEnv, isRoot, NOBODY, removeDir, requireBuiltCli, runCli, startCli, tempDir } from './support.js';

let work = '';
let env: NodeJS.ProcessEnv = {};
let n = 0;
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('cli');
  env = cliEnv(path.join(work, 'cache'));
});
afterAll(() => removeDir(work));

const cli = (...args: string[]) => runCli(args, { env });
const fresh = (label: string) => path.join(work, `${label}-${n++}`);

function makeSource(files: Record<string, string>): string {
  const src = fresh('src');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), content);
  }
  return src;
}

/** The only thing on stdout must be one JSON object (one line). */
function jsonOut(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  const v = JSON.parse(lines[0]!) as unknown;
  expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
  return v as Record<string, unknown>;
}

const SUMMARY_KEYS = ['command', 'uploaded', 'downloaded', 'deleted', 'unchanged', 'bytes', 'manifest', 'durationMs'];

describe('--json', () => {
  it('push and pull print exactly one JSON object with the summary keys; logs go to stderr', async () => {
    const src = makeSource({ 'a.txt': 'aaa', 'b/c.txt': 'cc', '.prefectignore': '*.log\n', 'x.log': 'ignored' });
    const store = fresh('store');
    const p = await cli('push', src, store, '--json');
    expect(p.code, p.stderr).toBe(0);
    const ps = jsonOut(p.stdout);
    for (const k of SUMMARY_KEYS) expect(ps).toHaveProperty(k);
    expect(ps).toMatchObject({ command: 'push', uploaded: 3, downloaded: 0, deleted: 0, unchanged: 0, bytes: 3 + 2 + 6 });
    expect(ps.manifest).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof ps.durationMs).toBe('number');

    const dest = fresh('dest');
    const q = await cli('pull', store, dest, '--json');
    expect(q.code, q.stderr).toBe(0);
    const qs = jsonOut(q.stdout);
    for (const k of SUMMARY_KEYS) expect(qs).toHaveProperty(k);
    expect(qs).toMatchObject({ command: 'pull', uploaded: 0, downloaded: 3, manifest: ps.manifest });

    // Failure with --json: still one object on stdout, the message on stderr, exit 1.
    const bad = await cli('pull', fresh('no-store'), fresh('dest'), '--json');
    expect(bad.code).toBe(1);
    expect(jsonOut(bad.stdout)).toMatchObject({ command: 'pull', error: { code: 'NOT_FOUND' } });
    expect(bad.stderr).toMatch(/Nothing to pull/);
  });
});

describe('status and scan', () => {
  it('status shows the plan and writes nothing', async () => {
    const src = makeSource({ 'keep.txt': 'k', 'change.txt': 'v1', 'gone.txt': 'g' });
    const store = fresh('store');
    expect((await cli('push', src, store)).code).toBe(0);
    fs.writeFileSync(path.join(src, 'change.txt'), 'v2 longer');
    fs.writeFileSync(path.join(src, 'new.txt'), 'n');
    fs.rmSync(path.join(src, 'gone.txt'));
    const before = { store: snapshot(store), src: snapshot(src) };
    const r = await cli('status', src, store);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^> change\.txt$/m);
    expect(r.stdout).toMatch(/^> new\.txt$/m);
    expect(r.stdout).toMatch(/^- gone\.txt$/m);
    expect(r.stdout).not.toMatch(/keep\.txt/);
    expect(r.stdout).toMatch(/would upload 2 .*would delete 1, unchanged 1/);
    expect({ store: snapshot(store), src: snapshot(src) }).toEqual(before);
    const j = jsonOut((await cli('status', src, store, '--json')).stdout);
    expect(j).toMatchObject({ command: 'status', uploaded: 2, deleted: 1, dryRun: true });
    expect({ store: snapshot(store), src: snapshot(src) }).toEqual(before);
  });

  it('pull --dry-run and push --dry-run list what they would do and write nothing', async () => {
    const src = makeSource({ 'a.txt': 'a', 'b/c.txt': 'c' });
    const store = fresh('store');
    const dry = await cli('push', src, store, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^> a\.txt$/m);
    expect(fs.existsSync(store)).toBe(false);
    expect((await cli('push', src, store)).code).toBe(0);
    const dest = fresh('dest');
    const r = await cli('pull', store, dest, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^< a\.txt$/m);
    expect(r.stdout).toMatch(/^< b\/c\.txt$/m);
    expect(r.stdout).toMatch(/would download 2/);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('scan lists the paths push would take, one a line; --json prints the manifest', async () => {
    const src = makeSource({ 'b.txt': '', 'a/x.py': 'x', '.prefectignore': 'node_modules/\n', 'node_modules/m.js': '', 'with space #1.txt': '' });
    const r = await cli('scan', src);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['.prefectignore', 'a/x.py', 'b.txt', 'with space #1.txt']);
    const j = jsonOut((await cli('scan', src, '--json')).stdout);
    expect(j).toMatchObject({ format: 'flowsync-manifest', version: 1, layout: 'mirror' });
    expect((j.files as { path: string }[]).map((f) => f.path)).toEqual(['.prefectignore', 'a/x.py', 'b.txt', 'with space #1.txt']);
  });
});

describe('verify', () => {
  it('passes on a clean store and pulled folder; finds a resized and a missing object (exit 1)', async () => {
    const src = makeSource({ 'a.txt': 'alpha', 'b.txt': 'beta', 'c/d.txt': 'delta', 'run.sh': '#!/bin/sh\n' });
    fs.chmodSync(path.join(src, 'run.sh'), 0o755);
    const store = fresh('store');
    const dest = fresh('dest');
    expect((await cli('push', src, store)).code).toBe(0);
    expect((await cli('pull', store, dest)).code).toBe(0);

    const ok = await cli('verify', store, '--dir', dest);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/OK, 4 entries checked/);
    expect(jsonOut((await cli('verify', store, '--deep', '--json')).stdout)).toMatchObject({ command: 'verify', ok: true, problems: [] });

    // Tamper with the store: one object resized, one gone.
    fs.appendFileSync(path.join(store, 'a.txt'), 'garbage');
    fs.rmSync(path.join(store, 'c', 'd.txt'));
    // And the pulled folder: one file edited (same size), one mode flipped.
    fs.writeFileSync(path.join(dest, 'b.txt'), 'BETA');
    fs.chmodSync(path.join(dest, 'run.sh'), 0o644);
    const bad = await cli('verify', store, '--dir', dest);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^remote drifted a\.txt: object has 12 B, manifest says 5 B$/m);
    expect(bad.stdout).toMatch(/^remote missing +c\/d\.txt/m);
    expect(bad.stdout).toMatch(/^local sha256 +b\.txt/m);
    expect(bad.stdout).toMatch(/^local mode +run\.sh/m);
    expect(bad.stdout).toMatch(/4 problem\(s\)/);
    const j = jsonOut((await cli('verify', store, '--json')).stdout);
    expect(j).toMatchObject({ ok: false });
    expect((j.problems as { path: string; problem: string }[]).map((p) => `${p.problem} ${p.path}`)).toEqual(['drifted a.txt', 'missing c/d.txt']);
  });

  it('--deep finds an object with the right size and the wrong bytes', async () => {
    const src = makeSource({ 'a.txt': 'alpha' });
    const store = fresh('store');
    expect((await cli('push', src, store)).code).toBe(0);
    const object = path.join(store, 'a.txt');
    // Rewritten in place (same inode, same size) with its mtime put back to the nanosecond
    // (touch -r): even the committed tag (size, mtime, inode on the local store) cannot see it.
    const ref = path.join(store, '..', 'mtime-ref');
    execFileSync('touch', ['-r', object, ref]);
    fs.writeFileSync(object, 'ALPHA');
    execFileSync('touch', ['-r', ref, object]);
    expect((await cli('verify', store)).code).toBe(0);
    const deep = await cli('verify', store, '--deep');
    expect(deep.code).toBe(1);
    expect(deep.stdout).toMatch(/remote drifted a\.txt: content does not hash/);
  });

  it('verify without --deep sees an object replaced after the push (its tag is not the committed one)', async () => {
    const src = makeSource({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    const store = fresh('store');
    expect((await cli('push', src, store)).code).toBe(0);
    fs.writeFileSync(path.join(store, 'a.txt.new'), 'ALPHA');
    fs.renameSync(path.join(store, 'a.txt.new'), path.join(store, 'a.txt')); // same size, new object
    fs.writeFileSync(path.join(store, 'stray.txt'), 'not listed');
    const r = await cli('verify', store, '--json');
    expect(r.code).toBe(1);
    const j = jsonOut(r.stdout) as { problems: { path: string; problem: string }[] };
    expect(j.problems.map((p) => `${p.problem} ${p.path}`)).toEqual(['drifted a.txt', 'stray stray.txt']);
  });
});

describe('help and usage', () => {
  // Each case is one CLI start; they run side by side to keep the file fast.
  it('every command --help exits 0 with its usage and an example', async () => {
    const commands = ['push', 'pull', 'status', 'scan', 'verify', 'init', 'steps'];
    const results = await Promise.all(commands.map((c) => cli(c, '--help')));
    for (const [i, r] of results.entries()) {
      const command = commands[i]!;
      expect(r.code, `${command} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: flowsync ${command}`));
      expect(r.stdout, command).toMatch(/Examples?:/);
      expect(r.stderr).toBe('');
    }
  });

  it('flowsync --help exits 0; no command at all is a usage error (2)', async () => {
    const [h, none] = await Promise.all([cli('--help'), cli()]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/flowsync push <dir> <remote>/);
    expect(none.code).toBe(2);
  });

  it('usage errors exit 2 with the cause on the first line, nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['frob'], /unknown command "frob"\. Commands: push, pull/],
      [['push', 'a', 'b', '--bogus'], /unknown option --bogus\. push takes: --ignore-file/],
      [['push', 'only-dir'], /flowsync push: missing remote\./],
      [['pull'], /flowsync pull: missing remote, dir\./],
      [['scan', 'a', 'b'], /unexpected argument "b"/],
      [['push', 'a', 'b', '--concurrency', 'lots'], /--concurrency expects a whole number/],
      [['push', 'a', 'b', '--part-size', '12 parsecs'], /--part-size expects a size such as 16MiB/],
      [['push', 'a', 'ftp://host/x'], /Unsupported remote ftp:\/\/host\/x/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    for (const [i, r] of results.entries()) {
      const [args, message] = cases[i]!;
      expect(r.code, JSON.stringify(args)).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});

describe('bad input: one clear line, exit 1 or 2, nothing lost', () => {
  let src = '';
  let store = '';
  let manifestFile = '';
  beforeAll(async () => {
    src = makeSource({ 'a.txt': 'a', 'b/c.txt': 'c' });
    store = fresh('store');
    expect((await cli('push', src, store)).code).toBe(0);
    manifestFile = path.join(store, '.flowsync', 'manifest.json');
  });

  /** Run, then check the exit code, a one-line message on stderr, and that source and store are as before. */
  async function refused(args: string[], code: 1 | 2, message: RegExp, watch: string[] = [src, store]): Promise<void> {
    const before = watch.map((d) => snapshot(d));
    const r = await cli(...args);
    expect(r.code, r.stderr).toBe(code);
    const lines = r.stderr.split('\n').filter((l) => l && !/^(hash|scan|upload|download): /.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(watch.map((d) => snapshot(d))).toEqual(before);
  }

  it('a missing source folder', async () => {
    const missing = path.join(work, 'no-such-dir');
    await refused(['push', missing, store], 1, /Cannot read the folder .*no-such-dir: it does not exist\. Check the path\./);
    await refused(['scan', missing], 1, /does not exist/);
  });

  it('a source that is a file', async () => {
    await refused(['push', path.join(src, 'a.txt'), store], 2, /a\.txt is not a folder\. Give the project folder to push\./);
  });

  it('a remote that is a file', async () => {
    const file = path.join(work, 'remote-file.txt');
    fs.writeFileSync(file, 'precious');
    await refused(['push', src, file], 2, /The local store .*remote-file\.txt is a file, not a folder\. Give a folder path\./, [src, file]);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
    const dest = fresh('dest');
    await refused(['pull', file, dest], 2, /The local store .*remote-file\.txt is a file, not a folder\./, [file]);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('a destination that is a file', async () => {
    const file = path.join(work, 'dest-file.txt');
    fs.writeFileSync(file, 'precious');
    await refused(['pull', store, file], 2, /dest-file\.txt is a file\. Pull into a folder\./, [file, store]);
  });

  it('an unreadable file, and an unreadable ignore file', async (ctx) => {
    // Root reads a chmod 000 file anyway: as root, the CLI runs as the user nobody instead, in a
    // folder of its own that nobody may write to.
    const user = isRoot ? NOBODY : undefined;
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-unreadable-'));
    try {
      fs.chmodSync(base, 0o777);
      const runEnv = cliEnv(path.join(base, 'cache'), { HOME: base });
      const probe = await runCli(['--version'], { env: runEnv, cwd: base, ...(user ? { user } : {}) });
      if (probe.code !== 0) ctx.skip(true, `running as root and the user nobody cannot run the built CLI in this checkout (${probe.stderr.trim().split('\n')[0]})`);
      const s = path.join(base, 'src');
      fs.mkdirSync(s);
      fs.writeFileSync(path.join(s, 'ok.txt'), 'ok');
      fs.writeFileSync(path.join(s, 'secret.txt'), 'no');
      fs.chmodSync(path.join(s, 'secret.txt'), 0o000);
      const dest = path.join(base, 'store');
      const before = snapshot(s);
      const r = await runCli(['push', s, dest], { env: runEnv, cwd: base, ...(user ? { user } : {}) });
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l && !/^(hash|scan|upload): /.test(l));
      expect(lines).toEqual([expect.stringMatching(/Cannot read secret\.txt: permission denied\. Fix its permissions/)]);
      expect(snapshot(s)).toEqual(before);
      expect(fs.existsSync(path.join(dest, '.flowsync', 'manifest.json'))).toBe(false); // no manifest: nothing half-pushed in force

      fs.chmodSync(path.join(s, 'secret.txt'), 0o644);
      fs.writeFileSync(path.join(s, '.prefectignore'), 'secret.txt\n');
      fs.chmodSync(path.join(s, '.prefectignore'), 0o000);
      const scan = await runCli(['scan', s], { env: runEnv, cwd: base, ...(user ? { user } : {}) });
      expect(scan.code, scan.stderr).toBe(1);
      expect(scan.stdout).toBe(''); // not a list made without the ignore rules
      expect(scan.stderr).toMatch(/\.prefectignore.*permission denied/);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('a malformed manifest (JSON)', async () => {
    const original = fs.readFileSync(manifestFile);
    fs.writeFileSync(manifestFile, '{"format":"flowsync-manifest",\n"files": [');
    try {
      const dest = fresh('dest');
      await refused(['pull', store, dest], 1, /The manifest at .* is not valid JSON \(.*\)\. Push again from the source folder to replace it\./);
      expect(fs.existsSync(dest)).toBe(false);
      await refused(['verify', store], 1, /not valid JSON/);
    } finally {
      fs.writeFileSync(manifestFile, original);
    }
  });

  it('an unknown manifest version', async () => {
    const original = fs.readFileSync(manifestFile);
    const m = JSON.parse(original.toString()) as Record<string, unknown>;
    fs.writeFileSync(manifestFile, JSON.stringify({ ...m, version: 7 }));
    try {
      const dest = fresh('dest');
      await refused(['pull', store, dest], 1, /has version 7; this flowsync reads up to version 1\. Upgrade flowsync on this machine\./);
      expect(fs.existsSync(dest)).toBe(false);
      await refused(['push', src, store], 1, /has version 7.*Upgrade flowsync/);
    } finally {
      fs.writeFileSync(manifestFile, original);
    }
  });

  it('a missing --ignore-file', async () => {
    await refused(['push', src, store, '--ignore-file', 'nope.ignore'], 1, /Ignore file .*nope\.ignore does not exist/);
  });
});

describe('names', () => {
  it('special names round-trip through push and pull, including a source folder whose name starts with "-"', async () => {
    const files: Record<string, string> = {};
    for (const name of SPECIAL_NAMES) {
      files[name] = `content of ${name}`;
      files[`[dir] #2/-sub/${name}`] = name;
    }
    const base = fresh('names');
    const src = path.join(base, '-src');
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
      fs.writeFileSync(path.join(src, rel), content);
    }
    const store = path.join(base, 'store #1');
    const dest = path.join(base, 'dest [x]');
    const p = await runCli(['push', '--json', '--', '-src', store], { env, cwd: base });
    expect(p.code, p.stderr).toBe(0);
    expect(jsonOut(p.stdout).uploaded).toBe(Object.keys(files).length);
    const q = await runCli(['pull', store, dest], { env, cwd: base });
    expect(q.code, q.stderr).toBe(0);
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(fs.readdirSync(dest)).toContain('cafe\u0301-nfd.txt');
  });

  it('a name with a newline or a backslash stops push with the name and the fix (exit 2)', async () => {
    for (const bad of ['line\nbreak.txt', 'back\\slash.txt']) {
      const s = makeSource({ 'ok.txt': 'ok', [bad]: 'x' });
      const store = fresh('store');
      const r = await cli('push', s, store);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`Cannot push ${JSON.stringify(bad)}`);
      expect(r.stderr).toMatch(/Rename it, or add it to the ignore file/);
      expect(fs.existsSync(store)).toBe(false);
    }
  });

  it('links outside the tree are skipped with a warning; --follow-links uploads their content', async () => {
    const outside = fresh('outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'shared.py'), 'shared');
    const s = makeSource({ 'main.py': 'main' });
    fs.symlinkSync(path.join(outside, 'shared.py'), path.join(s, 'shared.py'));
    fs.symlinkSync('main.py', path.join(s, 'alias.py'));
    const store = fresh('store');
    const r = await cli('push', s, store, '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: skipped 1 link: shared\.py -> .* \(absolute link targets are not portable\)\. Use --follow-links/);
    expect(jsonOut(r.stdout)).toMatchObject({ uploaded: 1 });
    const followed = fresh('store');
    const f = await cli('push', s, followed, '--follow-links', '--json');
    expect(f.code).toBe(0);
    expect(jsonOut(f.stdout)).toMatchObject({ uploaded: 3 });
    expect(fs.readFileSync(path.join(followed, 'shared.py'), 'utf8')).toBe('shared');
  });
});

describe('Ctrl-C', () => {
  it('SIGINT during pull exits non-zero, leaves no temp file, and a re-run converges', async () => {
    const base = fresh('sigint');
    const src = path.join(base, 'src');
    const store = path.join(base, 'store');
    const dest = path.join(base, 'dest');
    await generateTree(src, { files: 1200, seed: 21, ignored: false });
    expect((await cli('push', src, store)).code).toBe(0);

    const running = startCli(['pull', store, dest, '--concurrency', '1'], { env });
    // Wait until files are landing, then interrupt.
    const deadline = Date.now() + 20_000;
    let landed = 0;
    while (Date.now() < deadline) {
      landed = fs.existsSync(dest) ? fs.readdirSync(dest, { recursive: true }).length : 0;
      if (landed >= 5) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(landed).toBeGreaterThanOrEqual(5);
    running.child.kill('SIGINT');
    const r = await running.result;
    expect(r.code).not.toBe(0);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SIGINT: stopping cleanly/);
    expect(r.stderr).toMatch(/Interrupted by SIGINT/);
    expect(tempFiles(dest, store)).toEqual([]);
    const partial = fs.readdirSync(dest, { recursive: true }).length;
    expect(partial).toBeLessThan(1200);

    const again = await cli('pull', store, dest, '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(tempFiles(dest, store)).toEqual([]);
  });
});

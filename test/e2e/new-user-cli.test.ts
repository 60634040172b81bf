/**
 * What a new user meets first (issue 14), on the built CLI and the local store: typo'd remotes
 * are refused instead of becoming folders, unknown options name the closest one, `status
 * --exit-code` drives CI, `scan` of an all-ignored tree prints nothing, and `init` writes
 * Prefect's default .prefectignore and a prefect.yaml without ever overwriting.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSection } from '../../src/steps/parse.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir, writeFiles } from './support.js';

let work = '';
let env: NodeJS.ProcessEnv = {};
let n = 0;
beforeAll(() => {
  requireBuiltCli();
  work = tempDir('new-user');
  env = cliEnv(path.join(work, 'cache'));
});
afterAll(() => removeDir(work));

const fresh = (label: string) => path.join(work, `${label}-${n++}`);
const cli = (args: string[], cwd?: string) => runCli(args, { env, ...(cwd ? { cwd } : {}) });

function makeTree(files: Record<string, string>): string {
  return writeFiles(fresh('src'), files);
}

describe('remotes that look like URLs but are not supported', () => {
  it('are refused with exit 2 and the closest scheme, and nothing is written', async () => {
    const src = makeTree({ 'a.txt': 'a' });
    const cwd = fresh('cwd');
    fs.mkdirSync(cwd);
    const cases: [string, RegExp][] = [
      ['s3:/flows/py3', /Did you mean s3:\/\/flows\/py3\?.*\.\/s3:\/flows\/py3/],
      ['s4://flows/x', /Did you mean s3:\/\/flows\/x\?/],
      ['S3://flows/x', /Did you mean s3:\/\/flows\/x\?/],
      ['gcs://bucket/x', /Did you mean gs:\/\/bucket\/x\?/],
      ['azure://c/x', /Did you mean az:\/\/c\/x\?/],
      ['https://127.0.0.1:9000/b', /an http\(s\) address is an endpoint, not a remote.*--endpoint/],
    ];
    const results = await Promise.all(cases.map(([remote]) => cli(['push', src, remote], cwd)));
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]![0]).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^flowsync push: Unsupported remote /);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stdout).toBe('');
    }
    // pull and status check their remote too, before touching the destination.
    const dest = fresh('dest');
    const [pull, status] = await Promise.all([cli(['pull', 's3:/flows', dest], cwd), cli(['status', src, 'gs:/b'], cwd)]);
    expect([pull.code, status.code]).toEqual([2, 2]);
    expect(fs.readdirSync(cwd)).toEqual([]);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('file:///abs/path is a remote (the local store), not a typo', async () => {
    const src = makeTree({ 'a.txt': 'a' });
    const store = fresh('file-store');
    const r = await cli(['push', src, `file://${store}`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(store, 'a.txt'), 'utf8')).toBe('a');
  });

  it('a local folder whose name starts that way is written ./s3:/x', async () => {
    const src = makeTree({ 'a.txt': 'a' });
    const cwd = fresh('cwd');
    fs.mkdirSync(cwd);
    const r = await cli(['push', src, './s3:/x', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(cwd, 's3:', 'x', 'a.txt'), 'utf8')).toBe('a');
  });
});

describe('unknown options', () => {
  it('name the closest option and print the usage line (exit 2), not Node parser text', async () => {
    const [typo, missing, switchValue] = await Promise.all([
      cli(['push', 'a', 'b', '--dry-rn']),
      cli(['push', 'a', 'b', '--concurrency']),
      cli(['status', 'a', 'b', '--exit-code=1']),
    ]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^flowsync push: unknown option --dry-rn\. Did you mean --dry-run\?/);
    expect(typo.stderr).toMatch(/\nUsage: flowsync push <dir> <remote>/);
    expect(typo.stderr).not.toMatch(/positional argument/);
    expect(missing.stderr).toMatch(/^flowsync push: option --concurrency needs a value, e\.g\. --concurrency 8\./);
    expect(switchValue.stderr).toMatch(/^flowsync status: option --exit-code is a switch and takes no value/);
    expect([missing.code, switchValue.code]).toEqual([2, 2]);
  });
});

describe('status --exit-code', () => {
  it('exits 1 while a push would change anything (content, delete, a chmod alone), 0 when in sync', async () => {
    const src = makeTree({ 'a.txt': 'a', 'run.sh': '#!/bin/sh\n', 'gone.txt': 'g' });
    const store = fresh('store');
    const status = () => cli(['status', src, store, '--exit-code']);
    expect((await status()).code).toBe(1); // nothing pushed yet
    expect((await cli(['push', src, store])).code).toBe(0);
    const dest = fresh('dest');
    expect((await cli(['pull', store, dest])).code).toBe(0);
    const clean = await status();
    expect(clean.code, clean.stderr).toBe(0);
    expect((await cli(['status', src, store])).code).toBe(0);

    fs.chmodSync(path.join(src, 'run.sh'), 0o755);
    const chmod = await status();
    expect(chmod.code).toBe(1);
    expect(chmod.stdout).toMatch(/^~ run\.sh$/m);
    expect(chmod.stdout).toMatch(/would update 1 \(mode or link only\)/);
    expect((await cli(['status', src, store])).code).toBe(0); // without the flag: 0 either way

    const pushed = await cli(['push', src, store, '--json']);
    // A chmod alone is counted as updated, on push and on pull alike (no bytes move).
    expect(JSON.parse(pushed.stdout)).toMatchObject({ uploaded: 0, updated: 1, unchanged: 2 });
    const pulled = await cli(['pull', store, dest, '--json']);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ downloaded: 0, updated: 1, unchanged: 2 });
    expect(fs.statSync(path.join(dest, 'run.sh')).mode & 0o111).not.toBe(0);
    expect((await status()).code).toBe(0);
    fs.rmSync(path.join(src, 'gone.txt'));
    const del = await status();
    expect(del.code).toBe(1);
    expect(del.stdout).toMatch(/^- gone\.txt$/m);
    expect((await cli(['status', src, store, '--exit-code', '--no-delete'])).code).toBe(0);
  });
});

describe('skipped links', () => {
  it('are said once per push, as one warning with a count, also with --quiet', async () => {
    const src = makeTree({ 'main.py': 'main', 'lib/x.py': 'x' });
    fs.symlinkSync('../../elsewhere/a.py', path.join(src, 'lib', 'up.py'));
    fs.symlinkSync('/etc/hostname', path.join(src, 'abs.txt'));
    fs.symlinkSync('nope.txt', path.join(src, 'dangling.txt'));
    fs.symlinkSync('../../../b', path.join(src, 'lib', 'up2'));
    fs.symlinkSync('main.py', path.join(src, 'alias.py')); // inside: recorded, no warning
    const store = fresh('store');
    for (const args of [['push', src, store, '--quiet'], ['push', src, store, '--quiet'], ['status', src, store]]) {
      const r = await cli(args);
      expect(r.code, r.stderr).toBe(0);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
      expect(warnings, r.stderr).toHaveLength(1);
      expect(warnings[0]).toMatch(/^warning: skipped 4 links: .+ -> .+ \(.+\), .+, .+, and 1 more\. Use --follow-links to upload what they point to/);
    }
  });
});

describe('scan', () => {
  it('prints nothing at all when every file is ignored', async () => {
    const src = makeTree({ '.prefectignore': '*\n', 'a.pyc': 'x', 'sub/b.pyc': 'y' });
    const r = await cli(['scan', src]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('init', () => {
  it("writes Prefect's default .prefectignore and the recipe's prefect.yaml, prints what it wrote, and never overwrites", async () => {
    const dir = fresh('proj');
    fs.mkdirSync(dir);
    const first = await cli(['init', dir, '--recipe', 'gcs']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`wrote ${path.join(dir, '.prefectignore')}`);
    expect(first.stdout).toContain(`wrote ${path.join(dir, 'prefect.yaml')}`);
    const ignore = fs.readFileSync(path.join(dir, '.prefectignore'), 'utf8');
    for (const rule of ['.prefectignore', '__pycache__/', '*.py[cod]', '*$py.class', '*.egg-info/', '.mypy_cache/', '*.ipynb_checkpoints/*', '.venv', 'venv/', '.DS_Store', 'dask-worker-space/', '.vscode/', '.git/', '.hg/']) {
      expect(ignore.split('\n')).toContain(rule);
    }
    const yamlText = fs.readFileSync(path.join(dir, 'prefect.yaml'), 'utf8');
    const push = parseSection(yamlText, 'prefect.yaml', 'push');
    const pull = parseSection(yamlText, 'prefect.yaml', 'pull');
    expect(push.steps.map((s) => [s.name, s.id])).toEqual([['prefect_gcp.deployments.steps.push_to_gcs', 'push_code']]);
    expect(push.steps[0]!.args).toMatchObject({ bucket: 'my-bucket', folder: path.basename(dir) });
    // Not Prefect's recipe typo ({{ pull_code.folder }}): the pull reads the push step's outputs.
    expect(pull.steps[0]!.args).toMatchObject({ bucket: '{{ push_code.bucket }}', folder: '{{ push_code.folder }}' });

    fs.writeFileSync(path.join(dir, '.prefectignore'), 'mine\n');
    const again = await cli(['init', dir, '--recipe', 's3']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/kept .*\.prefectignore \(it exists; init never overwrites\)/);
    expect(again.stdout).toMatch(/kept .*prefect\.yaml/);
    expect(fs.readFileSync(path.join(dir, '.prefectignore'), 'utf8')).toBe('mine\n');
    expect(fs.readFileSync(path.join(dir, 'prefect.yaml'), 'utf8')).toBe(yamlText);
  });

  it('defaults to the current folder and the local recipe; every recipe gives a file flowsync can parse; a bad recipe is exit 2', async () => {
    const cwd = fresh('here');
    fs.mkdirSync(cwd);
    const r = await cli(['init'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const local = parseSection(fs.readFileSync(path.join(cwd, 'prefect.yaml'), 'utf8'), 'prefect.yaml', 'pull');
    expect(local.steps[0]).toMatchObject({ name: 'prefect.deployments.steps.set_working_directory', args: { directory: fs.realpathSync(cwd) } });
    for (const recipe of ['s3', 'azure', 'git', 'docker']) {
      const dir = fresh(recipe);
      fs.mkdirSync(dir);
      expect((await cli(['init', dir, '--recipe', recipe])).code).toBe(0);
      const text = fs.readFileSync(path.join(dir, 'prefect.yaml'), 'utf8');
      expect(parseSection(text, 'prefect.yaml', 'pull').steps.length, recipe).toBe(1);
    }
    const bad = await cli(['init', fresh('x'), '--recipe', 'azur']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown recipe "azur"\. Did you mean azure\?/);
  });
});

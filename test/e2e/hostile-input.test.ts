/**
 * Acceptance (issue 10), the hostile cases, on the local store and real files:
 * - a remote manifest with an unknown top-level field nested 5,000 levels deep: a clear error on
 *   pull, and push treats it as damaged before it uploads anything (no stack overflow);
 * - a manifest size of 2^53-1 is refused at validation, not reported as "object changed";
 * - a link `l -> u/..` through a link `u` already planted in the destination is refused;
 * - a hostile state.json (a placed path `../elsewhere/x`, `inProgress`) is set aside and never
 *   acted on: the temp sweep touches nothing outside the destination;
 * - disk full on a small tmpfs: the error names the destination file and the space needed, and
 *   no temp file (data or state record) is left behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { pull } from '../../src/sync/pull.js';
import { savePullState } from '../../src/sync/pull-state.js';
import { push } from '../../src/sync/push.js';
import { snapshot, tempFiles } from '../helpers/tree.js';
import { isRoot, removeDir, tempDir } from './support.js';
import { rejection } from '../helpers/rejection.js';

let work = '';
beforeAll(() => {
  work = tempDir('hostile');
});
afterAll(() => removeDir(work));

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function storeWith(name: string, files: unknown[], top: Record<string, unknown> | string = {}): string {
  const store = path.join(work, name, 'store');
  fs.mkdirSync(path.join(store, '.flowsync'), { recursive: true });
  const head = JSON.stringify({ format: 'flowsync-manifest', version: 1, createdAt: '2026-01-01T00:00:00.000Z', layout: 'mirror', files });
  const text = typeof top === 'string' ? head.slice(0, -1) + top + '}' : JSON.stringify({ ...JSON.parse(head), ...top });
  fs.writeFileSync(path.join(store, '.flowsync', 'manifest.json'), text);
  return store;
}


const logs = () => {
  const warnings: string[] = [];
  return { warnings, log: { info: () => {}, warn: (m: string) => warnings.push(m) } };
};

describe('a manifest field nested 5,000 levels deep', () => {
  const deep = ',"x-extension":' + '['.repeat(5000) + ']'.repeat(5000);

  it('pull refuses it with a clear error and writes nothing', async () => {
    const store = storeWith('deep-pull', [{ path: 'a.txt', size: 1, mode: 420, sha256: sha('a') }], deep);
    fs.writeFileSync(path.join(store, 'a.txt'), 'a');
    const dest = path.join(work, 'deep-pull', 'dest');
    const err = await rejection(pull({ remote: store, dir: dest }));
    expect(isFlowsyncError(err, 'BAD_MANIFEST')).toBe(true);
    expect(err.message).toMatch(/nests objects or arrays more than 32 levels deep/);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('push finds it damaged before uploading anything, replaces it, and no stack overflows', async () => {
    const store = storeWith('deep-push', [], deep);
    const src = path.join(work, 'deep-push', 'src');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'hello');
    const { warnings, log } = logs();
    const r = await push({ dir: src, remote: store, cacheDir: false, log });
    expect(r.uploaded).toBe(1);
    expect(warnings.join('\n')).toMatch(/nests objects or arrays more than 32 levels deep.*This push replaces it/s);
    const manifest = JSON.parse(fs.readFileSync(path.join(store, '.flowsync', 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['x-extension']).toBeUndefined();
    expect(fs.existsSync(path.join(store, '.flowsync', 'lease.json'))).toBe(false);
  });
});

describe('absurd sizes', () => {
  it('a size of 2^53-1 is refused when the manifest is validated, naming the entry', async () => {
    const store = storeWith('huge', [{ path: 'big.bin', size: Number.MAX_SAFE_INTEGER, mode: 420, sha256: sha('x') }]);
    const err = await rejection(pull({ remote: store, dir: path.join(work, 'huge', 'dest') }));
    expect(isFlowsyncError(err, 'BAD_MANIFEST')).toBe(true);
    expect(err.message).toMatch(/files\[0\]\.size is 9007199254740991 bytes, more than any object store holds/);
    expect(err.message).not.toMatch(/changed/);
  });
});

describe('links resolved on the real file system', () => {
  it('l -> u/.. through a link u planted in the destination is refused; nothing points outside', async () => {
    const outside = path.join(work, 'planted', 'outside', 'sub');
    fs.mkdirSync(outside, { recursive: true });
    const store = storeWith('planted', [
      { path: 'a.txt', size: 1, mode: 420, sha256: sha('a') },
      { path: 'l', link: 'u/..' },
    ]);
    fs.writeFileSync(path.join(store, 'a.txt'), 'a');
    const dest = path.join(work, 'planted', 'dest');
    fs.mkdirSync(dest);
    fs.symlinkSync(outside, path.join(dest, 'u'));
    const err = await rejection(pull({ remote: store, dir: dest }));
    expect(isFlowsyncError(err, 'UNSAFE_PATH')).toBe(true);
    expect(err.message).toMatch(/Refusing to create link l -> u\/\.\.: on this file system it resolves to .*outside/);
    expect(fs.existsSync(path.join(dest, 'l'))).toBe(false);
    expect(tempFiles(dest)).toEqual([]);
    // Without the planted link the same manifest is fine: l points at the destination itself.
    fs.unlinkSync(path.join(dest, 'u'));
    await pull({ remote: store, dir: dest });
    expect(fs.readlinkSync(path.join(dest, 'l'))).toBe('u/..');
  });
});

describe('a hostile state.json', () => {
  it('is reported and set aside, never acted on: the temp sweep does not reach outside the destination', async () => {
    const base = path.join(work, 'state');
    const store = storeWith('state', [{ path: 'x', size: 1, mode: 420, sha256: sha('x') }]);
    fs.writeFileSync(path.join(store, 'x'), 'x');
    const elsewhere = path.join(base, 'elsewhere');
    fs.mkdirSync(elsewhere, { recursive: true });
    fs.writeFileSync(path.join(elsewhere, '.flowsync-tmp-123abc-x'), 'not flowsync\'s to delete');
    const dest = path.join(base, 'dest');
    fs.mkdirSync(path.join(dest, '.flowsync'), { recursive: true });
    const hostile = { format: 'flowsync-pull-state', version: 1, inProgress: true, files: { '../elsewhere/x': { pending: sha('x') } } };
    fs.writeFileSync(path.join(dest, '.flowsync', 'state.json'), JSON.stringify(hostile));
    const before = snapshot(elsewhere);

    const { warnings, log } = logs();
    await pull({ remote: store, dir: dest, log });
    expect(snapshot(elsewhere)).toEqual(before);
    expect(warnings.join('\n')).toMatch(/record of what earlier pulls placed .* is invalid \(path "\.\.\/elsewhere\/x" is unsafe: it has a "\.\." segment\); it was moved to .*state\.json\.bad-\d+/);
    const aside = fs.readdirSync(path.join(dest, '.flowsync')).filter((n) => n.startsWith('state.json.bad-'));
    expect(aside).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(dest, '.flowsync', aside[0]!), 'utf8'))).toEqual(hostile);
    expect(fs.readFileSync(path.join(dest, 'x'), 'utf8')).toBe('x');
  });
});

describe('disk full on a small tmpfs', () => {
  let mnt = '';
  let skipReason = '';
  beforeAll(() => {
    mnt = path.join(work, 'tmpfs');
    fs.mkdirSync(mnt);
    if (!isRoot) skipReason = 'mounting a tmpfs needs root';
    else {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt], { stdio: 'pipe' });
      } catch (err) {
        skipReason = `mount -t tmpfs failed here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
      }
    }
  });
  afterAll(() => {
    if (!skipReason) execFileSync('umount', [mnt]);
  });

  it('a pull that does not fit names the destination file and the space it needs, and leaves no temp file', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const src = path.join(work, 'full-src');
    fs.mkdirSync(src);
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(src, `part${i}.bin`), Buffer.alloc(9 * 1024 * 1024, i + 1));
    const store = path.join(work, 'full-store');
    await push({ dir: src, remote: store, cacheDir: false });
    const dest = path.join(mnt, 'dest');
    const err = await rejection(pull({ remote: store, dir: dest, concurrency: 1 }));
    expect(isFlowsyncError(err, 'IO')).toBe(true);
    expect(err.message).toMatch(new RegExp(`No space left on the device to write ${dest.replace(/[/.]/g, '\\$&')}/part2\\.bin \\(9437184 B; \\d+ B are free there\\)\\. This pull still needs about 9437184 B`));
    expect(err.message).not.toMatch(/flowsync-tmp/);
    expect(tempFiles(dest)).toEqual([]);
    expect(fs.readdirSync(path.join(dest, '.flowsync')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a state record that cannot be written for lack of space leaves no temp file', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const dest = path.join(mnt, 'state-dest');
    fs.mkdirSync(path.join(dest, '.flowsync'), { recursive: true });
    // Fill the file system, then try to save a record bigger than what is left.
    const filler = path.join(mnt, 'filler');
    try {
      fs.writeFileSync(filler, Buffer.alloc(21 * 1024 * 1024));
    } catch {
      // ENOSPC: full, as intended
    }
    const placed = new Map(Array.from({ length: 2000 }, (_, i) => [`file-${i}.txt`, { sha256: sha(String(i)) }] as const));
    const err = await rejection(savePullState(dest, placed, { remote: 'x', manifest: null, inProgress: true }));
    expect(err.message).toMatch(/state\.json: no space left on the device/);
    expect(fs.readdirSync(path.join(dest, '.flowsync'))).toEqual([]);
    fs.rmSync(filler, { force: true });
  });
});

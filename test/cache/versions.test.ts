import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdersOf, holdVersion } from '../../src/cache/version-holds.js';
import { adoptPlainFolder, commitVersion, destinationKind, prepareVersion, pruneVersions, switchLink, versionsRoot } from '../../src/cache/versions.js';
import { removeDir, tempDir } from '../e2e/support.js';

async function makeVersion(dir: string, id: string, content: string): Promise<string> {
  const partial = await prepareVersion(dir);
  fs.writeFileSync(path.join(partial, 'flow.py'), content);
  const final = await commitVersion(dir, partial, id);
  await switchLink(dir, final);
  return final;
}

describe('version folders', () => {
  let base: string;
  let dir: string;
  beforeEach(() => {
    base = tempDir('versions');
    dir = path.join(base, 'flows');
  });
  afterEach(() => removeDir(base));

  it('switches a relative link in one rename and tells the kinds of destination apart', async () => {
    expect(await destinationKind(dir)).toEqual({ kind: 'missing' });
    const v1 = await makeVersion(dir, 'a'.repeat(64), 'v1');
    expect(fs.readlinkSync(dir)).toBe(path.join('flows.versions', path.basename(v1)));
    expect(fs.readFileSync(path.join(dir, 'flow.py'), 'utf8')).toBe('v1');
    expect(await destinationKind(dir)).toMatchObject({ kind: 'switched', current: v1 });
    const v2 = await makeVersion(dir, 'b'.repeat(64), 'v2');
    expect(fs.readFileSync(path.join(dir, 'flow.py'), 'utf8')).toBe('v2');
    expect(path.basename(v2) > path.basename(v1)).toBe(true); // names sort by time
    expect(fs.readdirSync(base).sort()).toEqual(['flows', 'flows.versions']); // no temporary link left
    fs.symlinkSync('/tmp', path.join(base, 'other'));
    expect(await destinationKind(path.join(base, 'other'))).toEqual({ kind: 'other-link', target: '/tmp' });
    fs.writeFileSync(path.join(base, 'file'), '');
    expect(await destinationKind(path.join(base, 'file'))).toEqual({ kind: 'not-a-folder' });
  });

  it('a plain folder is moved aside untouched and never pruned', async () => {
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub', 'mine.txt'), 'not flowsync');
    expect(await destinationKind(dir)).toEqual({ kind: 'plain' });
    const moved = await adoptPlainFolder(dir);
    expect(path.dirname(moved)).toBe(versionsRoot(dir));
    expect(fs.readFileSync(path.join(moved, 'sub', 'mine.txt'), 'utf8')).toBe('not flowsync');
    let current = '';
    for (let i = 0; i < 4; i++) current = await makeVersion(dir, String(i).repeat(64), `v${i}`);
    const r = await pruneVersions(dir, 1, current);
    expect(r.removed).toHaveLength(3);
    expect(fs.existsSync(moved)).toBe(true);
  });

  it('keeps the newest N and any held version; removes abandoned partial folders', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push(await makeVersion(dir, String(i).repeat(64), `v${i}`));
    const hold = await holdVersion(made[0]!); // by a hold file
    // By a working directory (a flow run started in it): a child process sitting in made[1].
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { cwd: made[1]!, stdio: 'ignore' });
    const abandoned = await prepareVersion(dir);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(holdersOf(made[1]!)).toEqual([`pid ${child.pid} (working directory)`]);
      const r = await pruneVersions(dir, 2, made[4]!);
      expect(r.removed.sort()).toEqual([made[2]!]);
      expect(r.held.map((h) => h.path).sort()).toEqual([made[0]!, made[1]!].sort());
      expect(r.held.find((h) => h.path === made[0])!.by).toEqual([`pid ${process.pid} (hold file)`]);
      expect(fs.existsSync(abandoned)).toBe(false);
      expect(fs.readdirSync(versionsRoot(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    } finally {
      child.kill();
    }
    await new Promise((r) => child.once('exit', r));
    await hold.release();
    const r2 = await pruneVersions(dir, 2, made[4]!);
    expect(r2.removed.sort()).toEqual([made[0]!, made[1]!].sort());
    expect(fs.readFileSync(path.join(dir, 'flow.py'), 'utf8')).toBe('v4');
  });

  it('a hold file of a dead process does not hold', async () => {
    const v = await makeVersion(dir, 'a'.repeat(64), 'v');
    fs.mkdirSync(path.join(v, '.flowsync', 'holds'), { recursive: true });
    fs.writeFileSync(path.join(v, '.flowsync', 'holds', '999999999'), '');
    fs.writeFileSync(path.join(v, '.flowsync', 'holds', '12@elsewhere.example'), '');
    expect(holdersOf(v, new Map())).toEqual(['hold file of pid 12 on elsewhere.example']);
    expect(fs.readdirSync(path.join(v, '.flowsync', 'holds'))).toEqual(['12@elsewhere.example']);
  });
});

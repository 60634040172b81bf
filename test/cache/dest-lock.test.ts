import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, STALE_AFTER_MS } from '../../src/cache/dest-lock.js';
import { removeDir, tempDir } from '../e2e/support.js';

/** The pid of a process that has exited (so it is provably dead on this host). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('destination lock', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir('lock');
    file = path.join(dir, 'dest', '.flowsync', 'pull.lock');
  });
  afterEach(() => removeDir(dir));

  it('a second holder waits for the first, then gets it', async () => {
    const first = await acquireLock(file, { what: 'dest' });
    const told: string[] = [];
    let secondHas = false;
    const second = acquireLock(file, { what: 'dest', onWait: (m) => told.push(m) }).then((l) => {
      secondHas = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(secondHas).toBe(false);
    expect(told[0]).toMatch(new RegExp(`waiting for another pull into dest \\(pid ${process.pid}`));
    await first.release();
    const l2 = await second;
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    await l2.release();
    expect(fs.existsSync(file)).toBe(false);
  });

  it('gives up after the bound, naming the holder and the fix', async () => {
    const first = await acquireLock(file, { what: '/srv/flows' });
    const err = await acquireLock(file, { what: '/srv/flows', waitMs: 200 }).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/Another pull \(pid \d+, started .*\) is writing into \/srv\/flows and did not finish within 0 s/);
    expect(err.message).toMatch(/taken over automatically/);
    await first.release();
  });

  it('a lock left by a dead process does not block', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ pid: deadPid(), host: os.hostname(), nonce: 'old', startedAt: new Date().toISOString() }));
    const l = await acquireLock(file, { what: 'dest', waitMs: 0 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['pull.lock']); // nothing left aside
    await l.release();
  });

  it('a lock from another host counts until its heartbeat is old; an unreadable one is judged by age', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'elsewhere.example', nonce: 'n1', startedAt: new Date().toISOString() }));
    const err = await acquireLock(file, { what: 'dest', waitMs: 100 }).catch((e) => e);
    expect(err.message).toMatch(/pid 1 on elsewhere\.example/);
    const old = new Date(Date.now() - STALE_AFTER_MS - 1000);
    fs.utimesSync(file, old, old);
    const l = await acquireLock(file, { what: 'dest', waitMs: 0 });
    await l.release();
    fs.writeFileSync(file, '{not json');
    expect((await acquireLock(file, { what: 'dest', waitMs: 100 }).catch((e) => e)).code).toBe('CONFLICT');
    fs.utimesSync(file, old, old);
    await (await acquireLock(file, { what: 'dest', waitMs: 0 })).release();
  });

  it('release leaves a lock that is no longer its own', async () => {
    const l = await acquireLock(file, { what: 'dest' });
    fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'elsewhere.example', nonce: 'theirs' }));
    await l.release();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).nonce).toBe('theirs');
  });

  it('many contenders: exactly one holds it at any time', async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const l = await acquireLock(file, { what: 'dest' });
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 20));
        inside--;
        await l.release();
      }),
    );
    expect(most).toBe(1);
  });
});

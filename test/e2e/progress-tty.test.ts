/**
 * The progress line in a real terminal (tmux, 80×24 and 50×24): while a push runs, the screen
 * holds at most one progress line, never wrapped or stacked, showing files, bytes, rate, elapsed
 * and ETA; when it ends, the line is gone and the summary stands alone. And plain output (not a
 * terminal): one "done" line per phase, also for a multipart upload (it printed two).
 * The terminal cases need tmux on PATH (Debian package tmux; .ci/run installs it) and are
 * skipped, saying so, without it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, cliPath, removeDir, requireBuiltCli, runCli, tempDir } from './support.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = `flowsync-test-${process.pid}`;
let work = '';

beforeAll(() => {
  requireBuiltCli();
  work = tempDir('progress');
});
afterAll(() => {
  // Our own tmux server only (its private socket), then our files.
  if (hasTmux) spawnSync('tmux', ['-L', socket, 'kill-server']);
  removeDir(work);
});

/** 1,500 small files in 30 folders and one of 8 MB: enough for several redraws with one transfer at a time. */
function makeTree(dir: string): void {
  for (let i = 0; i < 1500; i++) {
    const sub = path.join(dir, `d${i % 30}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.py`), `# ${i}\n`.repeat(1 + (i % 40)));
  }
  fs.writeFileSync(path.join(dir, 'model.bin'), Buffer.alloc(8_000_000, 7));
}

const PROGRESS = /^(scan|hash|upload|download|delete|manifest)\b/;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

async function watchPush(columns: number): Promise<string[]> {
  const src = path.join(work, `src-${columns}`);
  makeTree(src);
  const name = `push${columns}`;
  const shell = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [
    'env -u CI',
    `FLOWSYNC_CACHE_DIR=${shell(path.join(work, `cache-${columns}`))}`,
    shell(process.execPath),
    shell(cliPath),
    'push',
    shell(src),
    shell(path.join(work, `store-${columns}`)),
    '--concurrency 1',
    '; echo EXIT=$?; sleep 120',
  ].join(' ');
  tmux('new-session', '-d', '-s', name, '-x', String(columns), '-y', '24', command);
  const screens: string[] = [];
  const deadline = Date.now() + 40_000;
  for (;;) {
    const screen = tmux('capture-pane', '-p', '-t', name);
    screens.push(screen);
    if (/EXIT=\d+/.test(screen) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 80));
  }
  tmux('kill-session', '-t', name);
  return screens;
}

describe.skipIf(!hasTmux)(`in a terminal (tmux)${hasTmux ? '' : ' — skipped: tmux is not on PATH'}`, () => {
  for (const columns of [80, 50]) {
    it(`${columns} columns: one line, redrawn in place, with files, bytes, rate, elapsed and ETA`, async () => {
      const screens = await watchPush(columns);
      const last = screens.at(-1)!;
      expect(last).toMatch(/EXIT=0/);
      for (const screen of screens) {
        const lines = screen.split('\n');
        const progress = lines.filter((l) => PROGRESS.test(l));
        // A wrapped or stacked line would show as a second line of progress (or a full-width one).
        expect(progress.length, screen).toBeLessThanOrEqual(1);
        for (const l of progress) expect(l.trimEnd().length, l).toBeLessThan(columns);
      }
      const uploads = screens.flatMap((s) => s.split('\n')).filter((l) => l.startsWith('upload'));
      expect(uploads.length).toBeGreaterThan(2);
      // Redrawn, not frozen: several different states were on screen.
      expect(new Set(uploads).size).toBeGreaterThan(2);
      const all = uploads.join('\n');
      expect(all).toMatch(/\/1,501 files/);
      expect(all).toMatch(/ETA \d+:\d\d/);
      if (columns >= 80) {
        expect(all).toMatch(/\d [KMG]?B\/s|files\/s/);
        expect(all).toMatch(/elapsed \d+:\d\d/);
        expect(all).toMatch(/\/8\.\d+ MB/);
      }
      // The end: the line is cleared and the summary stands alone.
      expect(last.split('\n').filter((l) => PROGRESS.test(l))).toEqual([]);
      expect(last).toMatch(/^ {2}upload 1501 \(/m);
    });
  }
});

describe('plain output (not a terminal)', () => {
  it('one "done" line per phase, also for a multipart upload; none with --quiet or --json on stdout', async () => {
    const src = path.join(work, 'src-plain');
    fs.mkdirSync(src);
    // Above the local store's 64 MiB multipart threshold, so it goes up in parts.
    fs.writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(65 * 1024 * 1024 + 1, 1));
    fs.writeFileSync(path.join(src, 'small.txt'), 'small');
    const env = cliEnv(path.join(work, 'cache-plain'));
    const r = await runCli(['push', src, path.join(work, 'store-plain'), '--part-size', '8MiB'], { env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter(Boolean);
    const done = lines.filter((l) => /^\w+: done,/.test(l));
    const phases = done.map((l) => l.split(':')[0]);
    expect(new Set(phases).size).toBe(phases.length);
    expect(phases).toContain('upload');
    expect(lines.filter((l) => l.startsWith('upload'))).toHaveLength(1);
    expect(done.find((l) => l.startsWith('upload'))).toMatch(/^upload: done, 2\/2 files {2}68\.2\/68\.2 MB(  [\d.]+ [KMG]B\/s)? in [\d.]+ m?s$/);
    expect(r.stderr).not.toMatch(/\x1b\[/); // no terminal control codes in a file
  });
});

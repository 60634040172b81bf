/**
 * The bench harness must not rot: run `node dist/bench/main.js` once in a tiny mode against a
 * real s3rver and Azurite with flowsync (each layout and mode the build has), the Prefect-style
 * baseline and whichever anchor tools are installed, on loopback and through the delaying proxy,
 * and check the report it writes. Also check that the harness's own checks can fail (a corrupted
 * or incomplete tree is reported), that the counting proxy counts and delays, and that the
 * generator is deterministic. Flowsync's timings are never asserted; the proxy's added delay is
 * (as a lower bound: the proxy is the bench's instrument).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTree, planTree } from '../../bench/data/generate.js';
import { hashTree, listTaken, loadPrefectignore } from '../../bench/data/tree.js';
import { parseLatencies } from '../../bench/options.js';
import { startCountingProxy } from '../../bench/infra/proxy.js';
import { renderReadmeSection, updateReadme } from '../../bench/report/readme.js';
import { computeCells } from '../../bench/report/stats.js';
import type { BenchResult, RunRecord } from '../../bench/types.js';
import type { RemoteAdmin } from '../../bench/infra/s3-admin.js';
import { checkFolder, checkPacked } from '../../bench/verify.js';
import { push } from '../../src/index.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'flowsync-bench-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(argv: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bench harness, end to end', () => {
  it(
    'runs flowsync, the baseline and the installed anchors on s3rver and writes a checked report',
    async () => {
      const main = path.join(repoRoot, 'dist', 'bench', 'main.js');
      expect(existsSync(main), 'dist/bench/main.js is missing: run `npm run build` first (npm test does)').toBe(true);
      const out = path.join(scratch, 'results');
      // Left out to stay fast: the anchors at their defaults (the same commands with fewer flags), rclone --checksum,
      // s3cmd (one request at a time: slow, and its command is unchanged), the local store (its own tests).
      const contenders = 'flowsync,flowsync-packed,flowsync-cached,baseline,rclone-tuned,aws-tuned,flowsync-az,rclone-az';
      const r = await run(
        [
          main, '--quick', '--files', '40', '--runs', '1', '--contenders', contenders, '--scenarios', 'push-initial,push-delete,pull-change',
          '--latency', '0,10ms', '--latency-contenders', 'flowsync', '--out', out, '--name', 't',
        ],
        140_000,
      );
      expect(r.code, `bench exited ${r.code}\n${r.stderr.slice(-3000)}`).toBe(0);

      const result = JSON.parse(readFileSync(path.join(out, 't.json'), 'utf8')) as BenchResult & { cells: unknown[] };
      const rec = (scenario: string, contender: string): RunRecord | undefined => result.records.find((x) => x.scenario === scenario && x.contender === contender);
      expect(result.data.files).toBe(40);
      expect(result.scenarios.map((s) => s.id)).toEqual(['push-initial', 'push-delete', 'pull-change']);
      expect(result.networks!.map((n) => [n.id, n.latencyMs])).toEqual([['loopback', 0], ['10ms', 10]]);
      expect(result.networks![1]!.contenders).toEqual(['flowsync']);
      const at = (network: string, scenario: string, contender: string) =>
        result.records.find((x) => (x.network ?? 'loopback') === network && x.scenario === scenario && x.contender === contender);

      // flowsync on S3 (both passes) and on Azure: correct everywhere, measured, counted.
      for (const [network, ids] of [['loopback', ['flowsync', 'flowsync-az']], ['10ms', ['flowsync']]] as const) {
        for (const id of ids) {
          for (const s of ['push-initial', 'push-delete', 'pull-change']) {
            const f = at(network, s, id);
            expect(f?.status, `${network} ${id} ${s}: ${f?.problems}`).toBe('ok');
            expect(f!.measurement!.wallMs).toBeGreaterThan(0);
            expect(f!.measurement!.maxRssKb).toBeGreaterThan(10_000);
            expect(f!.requests!.total).toBeGreaterThan(0);
            expect(f!.requests!.connections).toBeGreaterThan(0);
          }
        }
      }
      // Only the chosen contenders ran with latency.
      expect([...new Set(result.records.filter((x) => x.network === '10ms').map((x) => x.contender))]).toEqual(['flowsync']);
      // A layout or mode the build lacks is reported as such and never run; one it has is checked like the rest.
      for (const id of ['flowsync-packed', 'flowsync-cached']) {
        const info = result.contenders.find((c) => c.id === id)!;
        if (!info.available) {
          expect(info.reason).toMatch(/not available in this build/);
          expect(result.records.some((x) => x.contender === id)).toBe(false);
        } else {
          const steps = id === 'flowsync-cached' ? ['pull-change'] : ['push-initial', 'push-delete', 'pull-change'];
          for (const s of steps) expect(at('loopback', s, id)?.status, `${id} ${s}: ${at('loopback', s, id)?.problems}`).toBe('ok');
        }
      }
      // A no-change-ish step moves only what changed: the delete push sends far fewer requests than files.
      expect(rec('push-delete', 'flowsync')!.requests!.total).toBeLessThan(20);
      // The initial push uploads every file: at least one PUT each.
      expect(rec('push-initial', 'flowsync')!.requests!.byMethod.PUT ?? 0).toBeGreaterThanOrEqual(40);

      // The baseline: correct, except that it never deletes (stale, by design).
      expect(rec('push-initial', 'baseline')?.status).toBe('ok');
      expect(rec('push-delete', 'baseline')?.status).toBe('stale');
      expect(rec('pull-change', 'baseline')?.status).toBe('ok');

      // Anchors: installed ones ran (no "failed": their commands and configs work); missing ones are reported.
      for (const id of ['rclone-tuned', 'aws-tuned', 'rclone-az']) {
        const info = result.contenders.find((c) => c.id === id)!;
        expect(info, id).toBeDefined();
        if (!info.available) {
          expect(result.records.some((x) => x.contender === id)).toBe(false);
          expect(readFileSync(path.join(out, 't.md'), 'utf8')).toContain('missing');
          continue;
        }
        expect(rec('push-initial', id)?.status, `${id} push-initial: ${rec('push-initial', id)?.problems}`).toBe('ok');
        expect(rec('push-delete', id)?.status, `${id} push-delete: ${rec('push-delete', id)?.problems}`).toBe('ok');
        // aws s3 sync's download skips same-size changes (documented): wrong is a legitimate outcome there.
        const allowed = id.startsWith('aws') ? ['ok', 'wrong'] : ['ok'];
        expect(allowed, `${id} pull-change: ${rec('pull-change', id)?.problems}`).toContain(rec('pull-change', id)?.status);
      }

      const md = readFileSync(path.join(out, 't.md'), 'utf8');
      expect(md).toContain('## Summary: flowsync against the best anchor');
      expect(md).toContain('| scenario | flowsync as | loopback: flowsync | best anchor | × | 10 ms round trip: flowsync |');
      expect(md).toContain('## Results: 10 ms round trip');
      expect(md).toContain('**Azure (Azurite)**');
      expect(md).toContain('## Targets');
      expect(md).toMatch(/\*\*Machine:\*\* \d+ cores/);
      const svg = readFileSync(path.join(out, 't.svg'), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg).toContain('initial push');
      expect(svg).not.toContain('<script');
      expect(result.cells.length).toBeGreaterThan(0);

      // The README's bench section is regenerated from the same file, between its markers only.
      const readme = path.join(scratch, 'README.md');
      writeFileSync(readme, '# x\n\nbefore\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n');
      const { cells: _c, targets: _t, ...raw } = result as BenchResult & { cells: unknown; targets: unknown };
      updateReadme(readme, renderReadmeSection(raw, computeCells(raw), [], 'bench/results/t.md'), 'flowsync is slow at X.');
      const text = readFileSync(readme, 'utf8');
      expect(text.startsWith('# x\n\nbefore\n<!-- bench:start -->\nLatest run — ')).toBe(true);
      expect(text).not.toContain('old table');
      expect(text).toContain('| scenario | flowsync as | loopback: flowsync | best anchor | × | 10 ms round trip: flowsync |');
      expect(text).toMatch(/\*\*Machine:\*\* \d+ cores/);
      expect(text).toContain('Where flowsync still falls short:\n\nflowsync is slow at X.');
      expect(text.endsWith('<!-- bench:end -->\nafter\n')).toBe(true);
      writeFileSync(readme, 'no markers');
      expect(() => updateReadme(readme, 'x', '')).toThrow(/bench:start/);
    },
    150_000,
  );
});

describe('bench harness parts', () => {
  it('reports a corrupted, an incomplete and an over-full tree as wrong', async () => {
    const src = path.join(scratch, 'check-src');
    await generateTree(src, 30, 'check');
    const { matcher } = loadPrefectignore(src);
    const facts = await hashTree(src, listTaken(src, matcher).paths);
    expect(facts.size).toBe(30);
    // The ignored files are not expected: a copy of only the taken files is correct.
    const good = path.join(scratch, 'check-good');
    for (const p of facts.keys()) cpSync(path.join(src, p), path.join(good, p));
    expect((await checkFolder(good, facts)).ok).toBe(true);

    const [first, second] = [...facts.keys()];
    appendFileSync(path.join(good, first!), 'x');
    unlinkSync(path.join(good, second!));
    appendFileSync(path.join(good, 'stray.txt'), 'not in the source');
    const bad = await checkFolder(good, facts);
    expect(bad.ok).toBe(false);
    expect(bad.diff.different).toEqual([first]);
    expect(bad.diff.missing).toEqual([second]);
    expect(bad.diff.extra).toEqual(['stray.txt']);
  });

  it('checks a packed remote by its pull, by what lies outside .flowsync/, and read without flowsync (tar, offsets, blobs)', async () => {
    const src = path.join(scratch, 'packed-src');
    await generateTree(src, 40, 'packed');
    const { matcher } = loadPrefectignore(src);
    const facts = await hashTree(src, listTaken(src, matcher).paths);
    // A real packed remote: flowsync pushes into a local store, whose objects are files under its root.
    const root = path.join(scratch, 'packed-store');
    await push({ dir: src, remote: path.join(root, 'p'), layout: 'packed', cacheDir: false });
    const file = (key: string) => path.join(root, ...key.split('/'));
    const admin = (extra: string[] = []): RemoteAdmin => ({
      list: async () => [
        ...readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => ({ key: path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'), size: 1 })),
        ...extra.map((key) => ({ key, size: 1 })),
      ],
      hashObject: async (_b, key) => {
        const bytes = readFileSync(file(key));
        return { size: bytes.length, md5: createHash('md5').update(bytes).digest('hex'), sha256: createHash('sha256').update(bytes).digest('hex') };
      },
      readObject: async (_b, key) => readFileSync(file(key)),
      deleteKeys: async () => {},
      deletePrefix: async () => 0,
      close: () => {},
    });
    const loc = { bucket: 'b', prefix: 'p' };
    const pulled = path.join(scratch, 'packed-pulled');
    for (const p of facts.keys()) cpSync(path.join(src, p), path.join(pulled, p));
    const good = await checkPacked(admin(), loc, facts, async () => ({ dir: pulled }));
    expect(good.problems).toBe('');
    expect(good.ok).toBe(true);

    const stray = await checkPacked(admin(['p/src/x.py']), loc, facts, async () => ({ dir: pulled }));
    expect(stray.ok).toBe(false);
    expect(stray.problems).toContain('outside .flowsync/ (e.g. src/x.py)');
    const failed = await checkPacked(admin(), loc, facts, async () => ({ error: 'exit 1' }));
    expect(failed.ok).toBe(false);
    expect(failed.problems).toContain('pulling it back failed: exit 1');

    // What a bug shared by flowsync's writer and reader would look like: a pull back is fine, the store is not.
    const manifestFile = file('p/.flowsync/manifest.json');
    const original = readFileSync(manifestFile, 'utf8');
    const doc = JSON.parse(original) as { files: { path: string; pack?: number; offset?: number }[] };
    const member = doc.files.find((e) => e.pack !== undefined)!;
    member.offset! += 512;
    writeFileSync(manifestFile, JSON.stringify(doc));
    const shifted = await checkPacked(admin(), loc, facts, async () => ({ dir: pulled }));
    expect(shifted.ok).toBe(false);
    expect(shifted.problems).toContain(`${member.path}: the bytes at offset`);
    writeFileSync(manifestFile, original);
    const packFile = file(`p/.flowsync/packs/${(JSON.parse(original) as { packs: { sha256: string }[] }).packs[0]!.sha256}.tar`);
    const pack = readFileSync(packFile);
    pack[600] = pack[600]! ^ 1;
    writeFileSync(packFile, pack);
    expect((await checkPacked(admin(), loc, facts, async () => ({ dir: pulled }))).problems).toContain('does not hash to its name');

    unlinkSync(path.join(pulled, [...facts.keys()][0]!));
    expect((await checkPacked(admin(), loc, facts, async () => ({ dir: pulled }))).diff.missing.length).toBe(1);
  });

  it('generates the same tree from the same seed and another from another seed', () => {
    const a = planTree(500, 'one');
    const b = planTree(500, 'one');
    const c = planTree(500, 'two');
    expect(a).toEqual(b);
    expect(a.taken).toBe(500);
    expect(c.files.map((f) => f.path)).not.toEqual(a.files.map((f) => f.path));
    // The shape the issue asks for: small sources 1–64 KiB, some MB assets, a large file, ignored folders.
    const sources = a.files.filter((f) => f.role === 'source');
    expect(Math.min(...sources.map((f) => f.size))).toBeGreaterThanOrEqual(1024);
    expect(Math.max(...sources.map((f) => f.size))).toBeLessThanOrEqual(64 * 1024);
    expect(a.files.some((f) => f.role === 'asset' && f.size >= 200 * 1024)).toBe(true);
    expect(a.files.some((f) => f.role === 'large')).toBe(true);
    expect(a.files.some((f) => f.path.startsWith('node_modules/'))).toBe(true);
    expect(a.files.some((f) => f.path.startsWith('.venv/'))).toBe(true);
  });

  it('reads --latency lists and refuses what is not a round trip', () => {
    expect(parseLatencies('0,20ms')).toEqual([0, 20]);
    expect(parseLatencies('20, 0, 20')).toEqual([20, 0]);
    expect(() => parseLatencies('fast')).toThrow(/not a round trip/);
    expect(() => parseLatencies('5s')).toThrow(/not a round trip/);
  });

  it('adds the modelled round trip to each request, one more on a new connection, and caps bandwidth', async () => {
    const upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(req.method === 'GET' ? Buffer.alloc(200_000) : 'ok'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as { port: number }).port;
    const proxy = await startCountingProxy(port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string) =>
      new Promise<{ ms: number; bytes: number }>((resolve, reject) => {
        const t0 = performance.now();
        const req = http.request(`${proxy.endpoint}/b/k`, { method, agent }, (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.on('end', () => resolve({ ms: performance.now() - t0, bytes }));
        });
        req.on('error', reject);
        req.end(method === 'PUT' ? 'x' : undefined);
      });
    try {
      proxy.setNetwork({ latencyMs: 60, bandwidthBps: null });
      const first = await send('PUT');
      const second = await send('PUT');
      // Lower bounds only: a loaded machine can only make it slower.
      expect(first.ms).toBeGreaterThanOrEqual(115);
      expect(second.ms).toBeGreaterThanOrEqual(58);
      expect(proxy.snapshot().connections).toBe(1);
      proxy.setNetwork({ latencyMs: 0, bandwidthBps: 1_000_000 });
      const big = await send('GET');
      expect(big.bytes).toBe(200_000);
      expect(big.ms).toBeGreaterThanOrEqual(150);
    } finally {
      agent.destroy();
      await proxy.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('counts the requests that pass through the proxy, by method', async () => {
    const upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as { port: number }).port;
    const proxy = await startCountingProxy(port);
    try {
      const send = (method: string, body?: string) =>
        new Promise<string>((resolve, reject) => {
          const req = http.request(`${proxy.endpoint}/b/k`, { method }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          });
          req.on('error', reject);
          req.end(body);
        });
      expect(await send('PUT', 'hello')).toBe('ok');
      await send('GET');
      await send('GET');
      const n = proxy.snapshot();
      expect(n.total).toBe(3);
      expect(n.byMethod).toEqual({ PUT: 1, GET: 2 });
      expect(n.bytesUp).toBe(5);
      proxy.reset();
      expect(proxy.snapshot().total).toBe(0);
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

/**
 * The bench run: one s3rver (behind the counting proxy) and the same data for every contender;
 * each run goes through the scenarios in order, every contender on its own prefix prepared the
 * same way, every result checked.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startS3rver, type S3rverServer } from '../test/servers/s3rver.js';
import { anchorContenders } from './contenders/anchors.js';
import { baselineContender } from './contenders/baseline.js';
import { flowsyncContender } from './contenders/flowsync.js';
import type { Contender, ContenderContext, Location } from './contenders/types.js';
import { translateIgnoreLines, type ToolExcludes } from './data/excludes.js';
import { generateBigFile, generateTree, type FileSpec } from './data/generate.js';
import { changeFiles, deleteFiles, type WorkTree } from './data/mutate.js';
import { hashTree, listTaken, loadPrefectignore, type TreeFacts } from './data/tree.js';
import { calibrateServer } from './infra/calibrate.js';
import { describeMachine } from './infra/machine.js';
import { measure, type CommandSpec, type MeasuredRun } from './infra/measure.js';
import { startCountingProxy, type CountingProxy } from './infra/proxy.js';
import { S3Admin } from './infra/s3-admin.js';
import type { BenchOptions } from './options.js';
import { profileFlowsync } from './profile.js';
import { SCENARIOS, type BenchResult, type ContenderInfo, type DataInfo, type RunRecord, type ScenarioId, type Status } from './types.js';
import { checkFolder, checkRemote, extraKeys, type CheckResult } from './verify.js';

const BUCKET = 'bench';
const CHANGE_FRACTION = 0.01;
const LARGE = 8 * 1024 * 1024;

/** The scenarios that make up one run, in order; big ones run apart (after all runs). */
const SEQUENCE: ScenarioId[] = ['push-initial', 'push-nochange', 'push-nochange-cold', 'push-change', 'push-delete', 'pull-fresh', 'pull-change'];
/**
 * Scenarios that are no later scenario's precondition: skipped entirely (edits included) when
 * not selected. The initial push and the fresh pull run untimed when a later selected scenario
 * needs their state.
 */
const OPTIONAL: ReadonlySet<ScenarioId> = new Set(['push-nochange', 'push-nochange-cold', 'push-change', 'push-delete']);

type Log = (line: string) => void;

/** Facts about the contenders and the server that a reader needs to read the table right. */
const STANDING_NOTES: { when: (ids: string[]) => boolean; text: string }[] = [
  {
    when: (ids) => ids.includes('aws'),
    text:
      '`aws s3 sync` from S3 to a folder skips a file whose size did not change unless the local copy is newer than the object: documented aws-cli behaviour ' +
      '(aws/aws-cli#1074, #3273, #7242; `--exact-timestamps` changes it). Half of the 1 % changes keep their size, so its incremental pull leaves those files stale and is marked WRONG.',
  },
  {
    when: (ids) => ids.some((id) => id.startsWith('rclone')),
    text:
      "rclone runs with `--fast-list`: s3rver's delimiter listing omits folders that contain only folders, so rclone's default per-folder listing misses part of the remote " +
      '(it re-uploaded half the tree on every no-change run and never deleted there). A real S3 does not have this bug; --fast-list is also what rclone advises for S3.',
  },
  {
    when: (ids) => ids.includes('baseline'),
    text:
      "The Prefect-style baseline never deletes (as Prefect's steps): after the 1 % delete its prefix keeps the deleted files (⚠ stale). They are removed, untimed, before the pulls so every tool pulls the same tree.",
  },
  {
    when: (ids) => ids.includes('flowsync'),
    text:
      'flowsync keeps a stat cache (size, mtime, ctime, inode → SHA-256) per source folder; the no-change and 1 % rows use a warm cache, as the same deploy machine pushing again has. ' +
      'The "cold stat cache" row shows a push from a machine that never pushed this folder: every file is read and hashed. The anchors keep no such state, so their no-change row is already "cold".',
  },
];

interface Prepared {
  pristine: string;
  facts: TreeFacts;
  roles: Map<string, FileSpec['role']>;
  excludes: ToolExcludes;
  data: DataInfo;
}

export function allContenders(): Contender[] {
  return [flowsyncContender('s3'), baselineContender, ...anchorContenders, flowsyncContender('local')];
}

async function prepareData(o: BenchOptions, tmp: string, log: Log): Promise<Prepared> {
  let pristine: string;
  let roles = new Map<string, FileSpec['role']>();
  if (o.data) {
    if (!existsSync(o.data)) throw new Error(`--data ${o.data}: no such folder`);
    pristine = o.data;
    log(`data: ${o.data} (copied per run; the folder itself is never changed)`);
  } else {
    pristine = path.join(tmp, 'pristine');
    log(`data: generating ${o.files} files (seed ${JSON.stringify(o.seed)}) in ${pristine}`);
    const plan = await generateTree(pristine, o.files, o.seed);
    roles = new Map(plan.files.map((f) => [f.path, f.role]));
  }
  const { matcher, lines } = loadPrefectignore(pristine);
  const taken = listTaken(pristine, matcher);
  const facts = await hashTree(pristine, taken.paths);
  if (o.data) for (const [p, f] of facts) roles.set(p, f.size >= LARGE ? 'large' : 'source');
  const excludes = translateIgnoreLines(lines);
  const all = listTaken(pristine, null);
  let bytes = 0;
  let largest = 0;
  let depth = 0;
  const folders = new Set<string>();
  for (const [p, f] of facts) {
    bytes += f.size;
    largest = Math.max(largest, f.size);
    const parts = p.split('/');
    depth = Math.max(depth, parts.length - 1);
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  const data: DataInfo = {
    source: o.data ? '--data folder' : 'generated',
    ...(o.data ? {} : { seed: o.seed }),
    files: facts.size,
    bytes,
    ignoredFiles: all.paths.length - facts.size,
    largestFile: largest,
    depth,
    folders: folders.size,
    unsupportedIgnoreLines: excludes.unsupported,
    links: taken.links.length,
    changeCount: Math.max(1, Math.round(facts.size * CHANGE_FRACTION)),
    deleteCount: Math.max(1, Math.round(facts.size * CHANGE_FRACTION)),
  };
  log(`data: ${data.files} files to push (${(bytes / 2 ** 20).toFixed(1)} MiB), ${data.ignoredFiles} ignored, ${data.folders} folders, depth ${depth}`);
  return { pristine, facts, roles, excludes, data };
}

function tail(text: string, n = 1500): string {
  const t = text.trim();
  return t.length > n ? '…' + t.slice(-n) : t;
}

function parseSummary(stdout: string): Record<string, unknown> | undefined {
  const last = stdout.trim().split('\n').pop();
  if (!last) return undefined;
  try {
    const v = JSON.parse(last) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

class Bench {
  readonly records: RunRecord[] = [];
  readonly notes: string[] = [];
  private seq = 0;

  constructor(
    readonly o: BenchOptions,
    readonly repoRoot: string,
    readonly tmp: string,
    readonly contenders: Contender[],
    readonly prepared: Prepared,
    readonly server: S3rverServer,
    readonly proxy: CountingProxy,
    readonly admin: S3Admin,
    readonly log: Log,
  ) {}

  ctx(c: Contender, cacheDir: string): ContenderContext {
    const home = path.join(this.tmp, 'home', c.id);
    mkdirSync(home, { recursive: true });
    mkdirSync(cacheDir, { recursive: true });
    return {
      endpoint: this.proxy.endpoint,
      accessKeyId: this.server.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: this.server.env.AWS_SECRET_ACCESS_KEY!,
      region: this.server.env.AWS_REGION!,
      repoRoot: this.repoRoot,
      home,
      cacheDir,
      excludes: this.prepared.excludes,
    };
  }

  async exec(cmd: CommandSpec): Promise<{ run: MeasuredRun; requests: ReturnType<CountingProxy['snapshot']> }> {
    const logs = path.join(this.tmp, 'logs');
    mkdirSync(logs, { recursive: true });
    const n = ++this.seq;
    this.proxy.reset();
    const run = await measure(cmd, { stdout: path.join(logs, `${n}.out`), stderr: path.join(logs, `${n}.err`) }, this.o.timeoutSec);
    return { run, requests: this.proxy.snapshot() };
  }

  /** Run one timed command, check the result, record it. */
  async timed(
    run: number,
    scenario: ScenarioId,
    c: Contender,
    cmd: CommandSpec,
    check: () => Promise<CheckResult>,
    staleOk?: (r: CheckResult) => boolean,
  ): Promise<RunRecord> {
    const load1 = Math.round(os.loadavg()[0]! * 100) / 100;
    const { run: m, requests } = await this.exec(cmd);
    let status: Status;
    let problems: string | undefined;
    if (m.timedOut || m.exitCode !== 0) {
      status = 'failed';
      problems = m.timedOut ? `timed out after ${this.o.timeoutSec} s` : `exit code ${m.exitCode}`;
    } else {
      const r = await check();
      status = r.ok ? 'ok' : staleOk?.(r) ? 'stale' : 'wrong';
      if (!r.ok) problems = r.problems;
    }
    const summary = parseSummary(m.stdout);
    const rec: RunRecord = {
      run,
      scenario,
      contender: c.id,
      status,
      measurement: { exitCode: m.exitCode, wallMs: m.wallMs, userMs: m.userMs, sysMs: m.sysMs, maxRssKb: m.maxRssKb, timedOut: m.timedOut },
      ...(c.store === 's3' ? { requests } : {}),
      ...(problems ? { problems } : {}),
      ...(summary ? { summary } : {}),
      ...(status === 'failed' ? { stderrTail: tail(m.stderr) } : {}),
      load1,
    };
    this.records.push(rec);
    const req = c.store === 's3' ? `, ${requests.total} requests` : '';
    this.log(
      `[run ${run}] ${scenario.padEnd(18)} ${c.id.padEnd(16)} ${(m.wallMs / 1000).toFixed(2).padStart(7)} s  ${status}${req}, ${Math.round(m.maxRssKb / 1024)} MiB${problems ? ` — ${problems}` : ''}${status === 'failed' ? `\n${tail(m.stderr, 600)}` : ''}`,
    );
    return rec;
  }

  /** Run a command as untimed preparation: null when it worked, else a readable error. */
  async untimed(what: string, cmd: CommandSpec): Promise<string | null> {
    const { run: m } = await this.exec(cmd);
    if (m.timedOut || m.exitCode !== 0) return `${what} failed (exit ${m.exitCode}${m.timedOut ? ', timed out' : ''}): ${tail(m.stderr, 400)}`;
    return null;
  }

  skip(run: number, scenario: ScenarioId, c: Contender, why: string): void {
    this.records.push({ run, scenario, contender: c.id, status: 'skipped', problems: why });
    this.log(`[run ${run}] ${scenario.padEnd(18)} ${c.id.padEnd(16)} skipped — ${why}`);
  }

  location(c: Contender, tag: string): Location {
    return c.store === 's3' ? { kind: 's3', bucket: BUCKET, prefix: `${c.id}/${tag}` } : { kind: 'local', dir: path.join(this.tmp, 'local-store', c.id, tag) };
  }

  async clear(loc: Location): Promise<void> {
    if (loc.kind === 's3') await this.admin.deletePrefix(loc.bucket, loc.prefix);
    else rmSync(loc.dir, { recursive: true, force: true });
  }

  selected(s: ScenarioId): boolean {
    return this.o.scenarios.includes(s);
  }

  async runOnce(run: number): Promise<void> {
    const o = this.o;
    const last = Math.max(...SEQUENCE.map((s, i) => (this.selected(s) ? i : -1)));
    if (last < 0) return;
    const work = path.join(this.tmp, 'work', `r${run}`);
    rmSync(work, { recursive: true, force: true });
    cpSync(this.prepared.pristine, work, { recursive: true });
    const tree: WorkTree = { root: work, seed: o.seed, facts: new Map(this.prepared.facts), roles: new Map(this.prepared.roles), generation: 0 };
    // Rotate the order each run, so no contender always goes first (or last) on a warm server.
    const order = this.contenders.map((_, i) => this.contenders[(i + run - 1) % this.contenders.length]!);
    const tag = `r${run}`;
    const loc = new Map(order.map((c) => [c.id, this.location(c, tag)]));
    const cache = (c: Contender) => path.join(this.tmp, 'cache', c.id, tag);
    const pulled = (c: Contender) => path.join(this.tmp, 'pulled', c.id, tag);
    const broken = new Map<string, string>();
    const sample = (s: string, c: Contender) => `${o.seed}:${run}:${s}:${c.id}`;

    for (const c of order) await this.clear(loc.get(c.id)!);
    for (let i = 0; i <= last; i++) {
      const s = SEQUENCE[i]!;
      const timed = this.selected(s);
      if (!timed && OPTIONAL.has(s)) continue;
      const info = SCENARIOS.find((x) => x.id === s)!;
      if (s === 'push-change') this.log(`[run ${run}] changed ${(await changeFiles(tree, CHANGE_FRACTION, 'push')).length} files`);
      if (s === 'push-delete') this.log(`[run ${run}] deleted ${deleteFiles(tree, CHANGE_FRACTION, 'push').length} files`);
      if (s === 'pull-fresh') await this.alignForPull(run, order, loc, tree.facts, broken);
      if (s === 'pull-change') this.log(`[run ${run}] changed ${(await changeFiles(tree, CHANGE_FRACTION, 'pull')).length} files, pushed by each tool (untimed)`);

      for (const c of order) {
        if (info.only && !info.only.includes(c.id)) continue;
        const l = loc.get(c.id)!;
        if (broken.has(c.id)) {
          if (timed) this.skip(run, s, c, broken.get(c.id)!);
          continue;
        }
        const cacheDir = s === 'push-nochange-cold' ? path.join(this.tmp, 'cache-cold', c.id, tag) : cache(c);
        if (s === 'push-nochange-cold') rmSync(cacheDir, { recursive: true, force: true });
        const ctx = this.ctx(c, cacheDir);
        if (s.startsWith('push-')) {
          const cmd = c.push(ctx, work, l);
          const check = () => checkRemote(this.admin, l, tree.facts, sample(s, c));
          if (timed) {
            // Prefect's steps never delete: the baseline leaving exactly the deleted files is its known behaviour.
            const staleOk = c.id === 'baseline' ? (r: CheckResult) => r.diff.missing.length === 0 && r.diff.different.length === 0 : undefined;
            const rec = await this.timed(run, s, c, cmd, check, staleOk);
            if (rec.status === 'failed' || rec.status === 'wrong') broken.set(c.id, `an earlier step of this run failed (${s}: ${rec.problems})`);
          } else {
            const err = await this.untimed(`${s} (preparation)`, cmd);
            if (err) broken.set(c.id, err);
          }
          continue;
        }
        // Pull scenarios.
        const dest = pulled(c);
        if (s === 'pull-fresh') rmSync(dest, { recursive: true, force: true });
        if (s === 'pull-change') {
          const err = await this.untimed('push of the change (preparation)', c.push(ctx, work, l));
          const r = err ? null : await checkRemote(this.admin, l, tree.facts, sample(s, c));
          if (err || !r!.ok) {
            broken.set(c.id, err ?? `its push of the change left a wrong remote: ${r!.problems}`);
            if (timed) this.skip(run, s, c, broken.get(c.id)!);
            continue;
          }
        }
        const cmd = c.pull(ctx, l, dest);
        if (timed) {
          const rec = await this.timed(run, s, c, cmd, () => checkFolder(dest, tree.facts));
          if (rec.status !== 'ok') broken.set(c.id, `an earlier step of this run failed (${s}: ${rec.problems})`);
        } else {
          const err = await this.untimed(`${s} (preparation)`, cmd);
          if (err) broken.set(c.id, err);
        }
      }
    }
    // Free the disk: this run's prefixes, folders and caches.
    for (const c of order) {
      await this.clear(loc.get(c.id)!);
      rmSync(pulled(c), { recursive: true, force: true });
    }
    rmSync(work, { recursive: true, force: true });
  }

  /**
   * Before the pulls every tool's prefix must hold the same tree. The pushes left it so (checked),
   * except where a tool does not delete (the baseline): those extra objects are removed here,
   * untimed. A prefix that is wrong in any other way cannot be pulled fairly: its pulls are skipped.
   */
  private async alignForPull(run: number, order: Contender[], loc: Map<string, Location>, facts: TreeFacts, broken: Map<string, string>): Promise<void> {
    for (const c of order) {
      if (broken.has(c.id)) continue;
      const l = loc.get(c.id)!;
      if (l.kind === 's3') {
        const extra = await extraKeys(this.admin, l, facts);
        if (extra.length > 0) {
          await this.admin.deleteKeys(l.bucket, extra);
          this.log(`[run ${run}] removed ${extra.length} stale objects from ${c.id}'s prefix before the pulls (untimed)`);
        }
      }
      const r = await checkRemote(this.admin, l, facts, `${run}:align:${c.id}`);
      if (!r.ok) broken.set(c.id, `its prefix does not hold the tree to pull: ${r.problems}`);
    }
  }

  async runBig(run: number, dir: string, facts: TreeFacts): Promise<void> {
    const order = this.contenders.map((_, i) => this.contenders[(i + run - 1) % this.contenders.length]!);
    for (const c of order) {
      const l = this.location(c, `big-r${run}`);
      await this.clear(l);
      const cacheDir = path.join(this.tmp, 'cache-big', c.id, `r${run}`);
      rmSync(cacheDir, { recursive: true, force: true });
      const ctx = this.ctx(c, cacheDir);
      const dest = path.join(this.tmp, 'pulled-big', c.id);
      rmSync(dest, { recursive: true, force: true });
      let pushed = true;
      if (this.selected('push-big')) {
        const rec = await this.timed(run, 'push-big', c, c.push(ctx, dir, l), () => checkRemote(this.admin, l, facts, `${run}:big:${c.id}`));
        pushed = rec.status === 'ok';
      } else {
        pushed = (await this.untimed('push-big (preparation)', c.push(ctx, dir, l))) === null;
      }
      if (this.selected('pull-big')) {
        if (pushed) await this.timed(run, 'pull-big', c, c.pull(ctx, l, dest), () => checkFolder(dest, facts));
        else this.skip(run, 'pull-big', c, 'its push of the large file failed');
      }
      await this.clear(l);
      rmSync(dest, { recursive: true, force: true });
    }
  }
}

export async function runBench(o: BenchOptions, repoRoot: string, argv: string[], log: Log): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const tmp = o.tmp ?? mkdtempSync(path.join(os.tmpdir(), 'flowsync-bench-'));
  mkdirSync(tmp, { recursive: true });
  log(`scratch folder: ${tmp}`);

  const wanted = allContenders().filter((c) => (o.contenders ? o.contenders.includes(c.id) : c.store === 's3' || o.local));
  if (o.contenders) {
    const unknown = o.contenders.filter((id) => !allContenders().some((c) => c.id === id));
    if (unknown.length > 0) throw new Error(`Unknown contender(s): ${unknown.join(', ')}; known: ${allContenders().map((c) => c.id).join(', ')}`);
  }
  const infos: ContenderInfo[] = [];
  const available: Contender[] = [];
  for (const c of wanted) {
    const d = c.detect(repoRoot);
    infos.push({ id: c.id, label: c.label, store: c.store, describe: c.describe, available: d.available, ...(d.available ? { version: d.version } : { reason: d.reason }) });
    if (d.available) available.push(c);
    log(`contender ${c.id}: ${d.available ? d.version : `MISSING — ${d.reason}`}`);
  }
  const machine = describeMachine(Object.fromEntries(infos.map((i) => [i.id, i.version ?? `missing: ${i.reason}`])));

  const prepared = await prepareData(o, tmp, log);
  const server = await startS3rver({ buckets: [BUCKET] });
  const proxy = await startCountingProxy(server.port);
  const admin = new S3Admin(server.endpoint, { accessKeyId: server.env.AWS_ACCESS_KEY_ID!, secretAccessKey: server.env.AWS_SECRET_ACCESS_KEY! }, server.env.AWS_REGION!);
  log(`s3rver on ${server.endpoint}, counting proxy on ${proxy.endpoint}`);
  const credentials = { accessKeyId: server.env.AWS_ACCESS_KEY_ID!, secretAccessKey: server.env.AWS_SECRET_ACCESS_KEY! };
  const calibration = await calibrateServer({ direct: server.endpoint, proxied: proxy.endpoint }, credentials, server.env.AWS_REGION!, BUCKET, o.quick ? 200 : 500);
  await admin.deletePrefix(BUCKET, 'calibrate');
  log(
    `server floor (8 KiB objects, 16 in flight): direct ${calibration.direct.putPerSec} PUT/s, ${calibration.direct.getPerSec} GET/s; ` +
      `through the proxy ${calibration.proxied.putPerSec} PUT/s, ${calibration.proxied.getPerSec} GET/s`,
  );
  const bench = new Bench(o, repoRoot, tmp, available, prepared, server, proxy, admin, log);
  let bigFileBytes: number | null = null;
  let profiles: BenchResult['profiles'];
  try {
    for (let run = 1; run <= o.runs; run++) await bench.runOnce(run);
    if (o.big && (bench.selected('push-big') || bench.selected('pull-big'))) {
      const dir = path.join(tmp, 'big', 'src');
      log(`big: generating one ${(o.bigSize / 2 ** 20).toFixed(0)} MiB file`);
      const spec = await generateBigFile(dir, o.bigSize, o.seed);
      const facts = await hashTree(dir, [spec.path]);
      bigFileBytes = o.bigSize;
      for (let run = 1; run <= o.runs; run++) await bench.runBig(run, dir, facts);
      rmSync(path.join(tmp, 'big'), { recursive: true, force: true });
    }
    if (o.profile) {
      const flowsync = available.find((c) => c.id === 'flowsync');
      if (flowsync) profiles = await profileFlowsync(bench, flowsync, tmp, log);
      else bench.notes.push('--profile: flowsync is not among the contenders; nothing profiled.');
    }
  } finally {
    admin.close();
    await proxy.close();
    await server.stop();
    if (!o.keep && !o.tmp) rmSync(tmp, { recursive: true, force: true });
  }
  bench.notes.push(...STANDING_NOTES.filter((n) => n.when(available.map((c) => c.id))).map((n) => n.text));
  if (prepared.data.unsupportedIgnoreLines.length > 0) {
    bench.notes.push(
      `These .prefectignore lines have no anchor translation, so anchors may move a different set (their checks then fail): ${prepared.data.unsupportedIgnoreLines.join(', ')}`,
    );
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    argv,
    // Folders relative to the repository: the report is committed and must not carry this machine's paths.
    options: { ...o, out: relativeTo(repoRoot, o.out), data: o.data && relativeTo(repoRoot, o.data), tmp: o.tmp && relativeTo(repoRoot, o.tmp) },
    machine,
    data: prepared.data,
    bigFileBytes,
    calibration,
    contenders: infos,
    scenarios: SCENARIOS.filter((s) => o.scenarios.includes(s.id) && (o.big || !s.id.endsWith('-big'))),
    records: bench.records,
    notes: bench.notes,
    ...(profiles ? { profiles } : {}),
  };
}

export type { Bench };

function relativeTo(root: string, dir: string): string {
  return path.relative(root, dir) || '.';
}

/**
 * One network pass of the bench: each run goes through the scenarios in order, every contender on
 * its own prefix prepared the same way, every result checked. The stores and the data are shared
 * by all passes; a pass only changes what the proxies add (latency, bandwidth) and who runs.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Contender, ContenderContext, Location } from './contenders/types.js';
import type { ToolExcludes } from './data/excludes.js';
import type { FileSpec } from './data/generate.js';
import { changeFiles, deleteFiles, type WorkTree } from './data/mutate.js';
import type { TreeFacts } from './data/tree.js';
import { measure, type CommandSpec, type MeasuredRun } from './infra/measure.js';
import type { RequestCounts } from './infra/proxy.js';
import { azureProxyEndpoint, type Stores } from './infra/stores.js';
import { Trash } from './infra/trash.js';
import type { BenchOptions } from './options.js';
import { SCENARIOS, type DataInfo, type NetworkInfo, type RunRecord, type ScenarioId, type Status } from './types.js';
import { checkFolder, checkPacked, checkRemote, extraKeys, type CheckResult } from './verify.js';

export const BUCKET = 'bench';
const CHANGE_FRACTION = 0.01;

/** The scenarios that make up one run, in order; big ones run apart (after all runs). */
const SEQUENCE: ScenarioId[] = ['push-initial', 'push-nochange', 'push-nochange-cold', 'push-change', 'push-delete', 'pull-fresh', 'pull-change'];
/**
 * Scenarios that are no later scenario's precondition: skipped entirely (edits included) when
 * not selected. The initial push and the fresh pull run untimed when a later selected scenario
 * needs their state.
 */
const OPTIONAL: ReadonlySet<ScenarioId> = new Set(['push-nochange', 'push-nochange-cold', 'push-change', 'push-delete']);

export type Log = (line: string) => void;

export interface Prepared {
  pristine: string;
  facts: TreeFacts;
  roles: Map<string, FileSpec['role']>;
  excludes: ToolExcludes;
  data: DataInfo;
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

export class Bench {
  readonly records: RunRecord[] = [];
  readonly notes: string[] = [];
  private seq = 0;
  /** The pass that runs now; its contenders are `contenders`. */
  network: NetworkInfo = { id: 'loopback', label: 'loopback', latencyMs: 0, bandwidthBps: null, contenders: [] };
  contenders: Contender[] = [];
  /** Finished trees wait here (see infra/trash.ts), and finished prefixes below, until disk runs short or the bench ends. */
  readonly trash: Trash;
  private readonly retired: Location[] = [];

  constructor(
    readonly o: BenchOptions,
    readonly repoRoot: string,
    readonly tmp: string,
    readonly prepared: Prepared,
    readonly stores: Stores,
    readonly log: Log,
  ) {
    this.trash = new Trash(path.join(tmp, 'trash'), log);
  }

  /**
   * Before a run: when the disk could not hold another run's trees beside what waits for
   * deletion, delete it now (and wait, so the deletion does not tax the run that follows).
   */
  private async makeRoom(): Promise<void> {
    const treeBytes = this.prepared.data.bytes;
    const needed = treeBytes * (2 * this.contenders.length + 8) + 2 * 1024 ** 3;
    if (this.trash.freeBytes() >= needed) return;
    for (const l of this.retired.splice(0)) await this.clear(l);
    await this.trash.empty(true);
  }

  ctx(c: Contender, cacheDir: string): ContenderContext {
    const home = path.join(this.tmp, 'home', c.id);
    mkdirSync(home, { recursive: true });
    mkdirSync(cacheDir, { recursive: true });
    const s3 = this.stores.s3.server;
    const az = this.stores.azure;
    return {
      endpoint: this.stores.s3.proxy.endpoint,
      accessKeyId: s3.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY!,
      region: s3.env.AWS_REGION!,
      ...(az ? { azure: { endpoint: azureProxyEndpoint(this.stores)!, sasQuery: az.sasQuery } } : {}),
      repoRoot: this.repoRoot,
      home,
      cacheDir,
      excludes: this.prepared.excludes,
    };
  }

  async exec(cmd: CommandSpec, store: Contender['store'] = 's3'): Promise<{ run: MeasuredRun; requests: RequestCounts | null }> {
    const logs = path.join(this.tmp, 'logs');
    mkdirSync(logs, { recursive: true });
    const n = ++this.seq;
    // Flush the dirty pages earlier commands left (a pull writes hundreds of MB): otherwise the
    // kernel's write-back of one contender's files slows whichever contender is timed next.
    execFileSync('sync');
    this.stores.reset();
    const run = await measure(cmd, { stdout: path.join(logs, `${n}.out`), stderr: path.join(logs, `${n}.err`) }, this.o.timeoutSec);
    return { run, requests: store === 'local' ? null : this.stores.counts(store) };
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
    const { run: m, requests } = await this.exec(cmd, c.store);
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
    // A pull names the folder it filled: keep it relative, no machine's paths in the results.
    if (typeof summary?.['directory'] === 'string') summary['directory'] = path.relative(this.tmp, summary['directory']);
    const rec: RunRecord = {
      run,
      network: this.network.id,
      scenario,
      contender: c.id,
      status,
      measurement: { exitCode: m.exitCode, wallMs: m.wallMs, userMs: m.userMs, sysMs: m.sysMs, maxRssKb: m.maxRssKb, timedOut: m.timedOut },
      ...(requests ? { requests } : {}),
      ...(problems ? { problems } : {}),
      ...(summary ? { summary } : {}),
      ...(status === 'failed' ? { stderrTail: tail(m.stderr) } : {}),
      load1,
    };
    this.records.push(rec);
    const req = requests ? `, ${requests.total} requests` : '';
    this.log(
      `[${this.network.id} run ${run}] ${scenario.padEnd(18)} ${c.id.padEnd(22)} ${(m.wallMs / 1000).toFixed(2).padStart(7)} s  ${status}${req}, ${Math.round(m.maxRssKb / 1024)} MiB${problems ? ` — ${problems}` : ''}${status === 'failed' ? `\n${tail(m.stderr, 600)}` : ''}`,
    );
    return rec;
  }

  /** Run a command as untimed preparation: null when it worked, else a readable error. */
  async untimed(what: string, cmd: CommandSpec, store: Contender['store'] = 's3'): Promise<string | null> {
    const { run: m } = await this.exec(cmd, store);
    if (m.timedOut || m.exitCode !== 0) return `${what} failed (exit ${m.exitCode}${m.timedOut ? ', timed out' : ''}): ${tail(m.stderr, 400)}`;
    return null;
  }

  skip(run: number, scenario: ScenarioId, c: Contender, why: string): void {
    this.records.push({ run, network: this.network.id, scenario, contender: c.id, status: 'skipped', problems: why });
    this.log(`[${this.network.id} run ${run}] ${scenario.padEnd(18)} ${c.id.padEnd(22)} skipped — ${why}`);
  }

  location(c: Contender, tag: string): Location {
    if (c.store === 'local') return { kind: 'local', dir: path.join(this.tmp, 'local-store', c.id, tag) };
    return { kind: c.store, bucket: BUCKET, prefix: `${c.id}/${tag}` };
  }

  async clear(loc: Location): Promise<void> {
    if (loc.kind === 'local') this.trash.discard(loc.dir);
    else await this.stores.admin(loc.kind).deletePrefix(loc.bucket, loc.prefix);
  }

  selected(s: ScenarioId): boolean {
    return this.o.scenarios.includes(s);
  }

  /** The check of a push: the remote's listing (mirror), or a pull of it back (packed). */
  remoteCheck(c: Contender, loc: Location, facts: TreeFacts, sampleSeed: string): () => Promise<CheckResult> {
    if (c.layout !== 'packed' || loc.kind === 'local') return () => checkRemote(loc.kind === 'local' ? null : this.stores.admin(loc.kind), loc, facts, sampleSeed);
    return () =>
      checkPacked(this.stores.admin(loc.kind), loc, facts, async () => {
        const dir = path.join(this.tmp, 'check', c.id);
        const cache = path.join(this.tmp, 'check-cache', c.id);
        this.trash.discard(dir);
        this.trash.discard(cache);
        const err = await this.untimed('pulling the packed remote back', c.pull(this.ctx(c, cache), loc, dir), c.store);
        return err ? { error: err } : { dir };
      });
  }

  /** Rotate the order each run, so no contender always goes first (or last) on a warm server. */
  private rotated(run: number): Contender[] {
    return this.contenders.map((_, i) => this.contenders[(i + run - 1) % this.contenders.length]!);
  }

  async runOnce(run: number): Promise<void> {
    const o = this.o;
    const last = Math.max(...SEQUENCE.map((s, i) => (this.selected(s) ? i : -1)));
    if (last < 0) return;
    await this.makeRoom();
    const work = path.join(this.tmp, 'work', `r${run}`);
    this.trash.discard(work);
    cpSync(this.prepared.pristine, work, { recursive: true });
    const tree: WorkTree = { root: work, seed: o.seed, facts: new Map(this.prepared.facts), roles: new Map(this.prepared.roles), generation: 0 };
    const order = this.rotated(run);
    const tag = `${this.network.id}-r${run}`;
    const loc = new Map(order.map((c) => [c.id, this.location(c, tag)]));
    const cache = (c: Contender) => path.join(this.tmp, 'cache', c.id, tag);
    // Pulls keep their own cache folder, empty before the fresh pull (a worker that never pulled), except the warm-cache contender's.
    const pullCache = (c: Contender) => path.join(this.tmp, 'cache-pull', c.id, tag);
    const pulled = (c: Contender) => path.join(this.tmp, 'pulled', c.id, tag);
    const broken = new Map<string, string>();
    const sample = (s: string, c: Contender) => `${o.seed}:${this.network.id}:${run}:${s}:${c.id}`;

    for (const c of order) await this.clear(loc.get(c.id)!);
    for (let i = 0; i <= last; i++) {
      const s = SEQUENCE[i]!;
      const timed = this.selected(s);
      if (!timed && OPTIONAL.has(s)) continue;
      const info = SCENARIOS.find((x) => x.id === s)!;
      if (s === 'push-change') this.log(`[${this.network.id} run ${run}] changed ${(await changeFiles(tree, CHANGE_FRACTION, 'push')).length} files`);
      if (s === 'push-delete') this.log(`[${this.network.id} run ${run}] deleted ${deleteFiles(tree, CHANGE_FRACTION, 'push').length} files`);
      if (s === 'pull-fresh') await this.alignForPull(run, order, loc, tree, broken, { push: cache, pull: pullCache });
      if (s === 'pull-change') this.log(`[${this.network.id} run ${run}] changed ${(await changeFiles(tree, CHANGE_FRACTION, 'pull')).length} files, pushed by each tool (untimed)`);

      for (const c of order) {
        if (info.flowsyncOnly && (c.kind !== 'flowsync' || c.pullOnly)) continue;
        const l = loc.get(c.id)!;
        if (broken.has(c.id)) {
          if (timed && !(c.pullOnly && s.startsWith('push-'))) this.skip(run, s, c, broken.get(c.id)!);
          continue;
        }
        if (s.startsWith('push-')) {
          if (c.pullOnly) continue;
          const cacheDir = s === 'push-nochange-cold' ? path.join(this.tmp, 'cache-cold', c.id, tag) : cache(c);
          if (s === 'push-nochange-cold') this.trash.discard(cacheDir);
          const cmd = c.push(this.ctx(c, cacheDir), work, l);
          const check = this.remoteCheck(c, l, tree.facts, sample(s, c));
          if (timed) {
            // Prefect's steps never delete: the baseline leaving exactly the deleted files is its known behaviour.
            const staleOk = c.kind === 'baseline' ? (r: CheckResult) => r.diff.missing.length === 0 && r.diff.different.length === 0 : undefined;
            const rec = await this.timed(run, s, c, cmd, check, staleOk);
            if (rec.status === 'failed' || rec.status === 'wrong') broken.set(c.id, `an earlier step of this run failed (${s}: ${rec.problems})`);
          } else {
            const err = await this.untimed(`${s} (preparation)`, cmd, c.store);
            if (err) broken.set(c.id, err);
          }
          continue;
        }
        // Pull scenarios.
        const dest = pulled(c);
        if (s === 'pull-fresh') this.trash.discard(dest);
        if (s === 'pull-change') {
          const err = await this.untimed('push of the change (preparation)', c.push(this.ctx(c, cache(c)), work, l), c.store);
          const r = err ? null : await this.remoteCheck(c, l, tree.facts, sample(s, c))();
          if (err || !r!.ok) {
            broken.set(c.id, err ?? `its push of the change left a wrong remote: ${r!.problems}`);
            if (timed) this.skip(run, s, c, broken.get(c.id)!);
            continue;
          }
        }
        const cmd = c.pull(this.ctx(c, pullCache(c)), l, dest);
        if (timed) {
          const rec = await this.timed(run, s, c, cmd, () => checkFolder(dest, tree.facts));
          if (rec.status !== 'ok') broken.set(c.id, `an earlier step of this run failed (${s}: ${rec.problems})`);
          else if (c.pullOnly && s === 'pull-fresh') this.noteCacheUse(rec);
        } else {
          const err = await this.untimed(`${s} (preparation)`, cmd, c.store);
          if (err) broken.set(c.id, err);
        }
      }
    }
    // This run's prefixes, folders and caches are deleted later (makeRoom, or with the scratch folder).
    for (const c of order) {
      this.retired.push(loc.get(c.id)!);
      this.trash.discard(pulled(c));
    }
    this.trash.discard(work);
    this.trash.discard(path.join(this.tmp, 'cache-pull'));
  }

  /**
   * The warm-cache pull's floor: `cp -r` of the tree it places (the warmed folder), timed like a
   * contender. The fastest copy of each pass is kept (the page cache is warm for each).
   */
  private async timeCopy(tree: string): Promise<void> {
    const copy = `${tree}-cp`;
    this.trash.discard(copy);
    execFileSync('sync');
    const m = await measure({ argv: ['cp', '-r', tree, copy], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' }, cwd: this.tmp }, { stdout: '/dev/null', stderr: '/dev/null' }, this.o.timeoutSec);
    this.trash.discard(copy);
    if (m.exitCode !== 0) return;
    const data = this.prepared.data;
    const byNetwork = (data.copyTreeMsByNetwork ??= {});
    byNetwork[this.network.id] = Math.min(m.wallMs, byNetwork[this.network.id] ?? Infinity);
    this.log(`[${this.network.id}] cp -r of the pulled tree: ${(m.wallMs / 1000).toFixed(2)} s (the warm-cache pull's floor)`);
  }

  /** A warm-cache pull that took nothing from the cache measured something else: say so. */
  private noteCacheUse(rec: RunRecord): void {
    const from = rec.summary?.fromCache;
    if (typeof from === 'number' && from > 0) return;
    const text = `${rec.contender} (${this.network.id}, run ${rec.run}): the fresh pull with a warm cache reported fromCache = ${JSON.stringify(from ?? null)}; the cache did not serve it.`;
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /**
   * Before the pulls every tool's prefix must hold the same tree. The pushes left it so (checked),
   * except where a tool does not delete (the baseline): those extra objects are removed here,
   * untimed. A prefix that is wrong in any other way cannot be pulled fairly: its pulls are skipped.
   * A pull-only contender pushes its prefix here (untimed) and fills its cache with a pull into a
   * scratch folder.
   */
  private async alignForPull(
    run: number,
    order: Contender[],
    loc: Map<string, Location>,
    tree: WorkTree,
    broken: Map<string, string>,
    caches: { push: (c: Contender) => string; pull: (c: Contender) => string },
  ): Promise<void> {
    const facts = tree.facts;
    for (const c of order) {
      if (broken.has(c.id)) continue;
      const l = loc.get(c.id)!;
      this.trash.discard(caches.pull(c));
      if (c.pullOnly) {
        const scratch = path.join(this.tmp, 'warm', c.id);
        this.trash.discard(scratch);
        const err =
          (await this.untimed('push of its prefix (preparation)', c.push(this.ctx(c, caches.push(c)), tree.root, l), c.store)) ??
          (await this.untimed('pull that warms its cache (preparation)', c.pull(this.ctx(c, caches.pull(c)), l, scratch), c.store));
        if (!err) await this.timeCopy(scratch);
        this.trash.discard(scratch);
        if (err) {
          broken.set(c.id, err);
          continue;
        }
      }
      if (l.kind !== 'local' && c.layout !== 'packed') {
        const extra = await extraKeys(this.stores.admin(l.kind), l, facts);
        if (extra.length > 0) {
          await this.stores.admin(l.kind).deleteKeys(l.bucket, extra);
          this.log(`[${this.network.id} run ${run}] removed ${extra.length} stale objects from ${c.id}'s prefix before the pulls (untimed)`);
        }
      }
      const r = await this.remoteCheck(c, l, facts, `${this.network.id}:${run}:align:${c.id}`)();
      if (!r.ok) broken.set(c.id, `its prefix does not hold the tree to pull: ${r.problems}`);
    }
  }

  async runBig(run: number, dir: string, facts: TreeFacts): Promise<void> {
    for (const c of this.rotated(run)) {
      if (c.pullOnly) continue;
      const l = this.location(c, `big-${this.network.id}-r${run}`);
      await this.clear(l);
      const cacheDir = path.join(this.tmp, 'cache-big', c.id, `${this.network.id}-r${run}`);
      rmSync(cacheDir, { recursive: true, force: true });
      const ctx = this.ctx(c, cacheDir);
      const dest = path.join(this.tmp, 'pulled-big', c.id);
      rmSync(dest, { recursive: true, force: true });
      let pushed = true;
      const check = this.remoteCheck(c, l, facts, `${this.network.id}:${run}:big:${c.id}`);
      if (this.selected('push-big')) {
        const rec = await this.timed(run, 'push-big', c, c.push(ctx, dir, l), check);
        pushed = rec.status === 'ok';
      } else {
        pushed = (await this.untimed('push-big (preparation)', c.push(ctx, dir, l), c.store)) === null;
      }
      if (this.selected('pull-big')) {
        // A fresh cache for the pull: the push may have filled the one it used.
        const pullCtx = this.ctx(c, `${cacheDir}-pull`);
        if (pushed) await this.timed(run, 'pull-big', c, c.pull(pullCtx, l, dest), () => checkFolder(dest, facts));
        else this.skip(run, 'pull-big', c, 'its push of the large file failed');
      }
      // One large file each: deleting it frees a handful of inodes and the disk a run needs.
      await this.clear(l);
      rmSync(dest, { recursive: true, force: true });
      rmSync(`${cacheDir}-pull`, { recursive: true, force: true });
      rmSync(path.join(this.tmp, 'check'), { recursive: true, force: true });
    }
  }
}

/**
 * Where flowsync's time goes, for the lead to act on:
 * - outside in: medians of whole-process timings of `node -e 0` (Node start-up), `flowsync --help`
 *   (start-up + loading the CLI), `flowsync scan` (+ walk, stat cache, hashing, manifest build,
 *   no network), `flowsync status` (+ fetching and parsing the remote manifest, planning) and the
 *   push itself;
 * - inside: a V8 CPU profile (`node --cpu-prof`) of the no-change push and of the 1 %-change push,
 *   self time grouped by where the code lives, and the hottest functions.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Contender } from './contenders/types.js';
import { changeFiles, type WorkTree } from './data/mutate.js';
import type { CommandSpec } from './infra/measure.js';
import type { Bench } from './bench.js';
import type { ProfileReport, ScenarioId } from './types.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function groupOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(idle)') return 'idle: waiting on I/O (network, disk)';
  if (fn === '(program)') return 'V8 and native code (parse/compile, start-up)';
  if (url === '') return `native built-ins`;
  const src = /\/dist\/src\/([^/]+)\//.exec(url) ?? /\/dist\/src\/([^/]+)\.js/.exec(url);
  if (src) return `flowsync ${src[1]}/`;
  if (/node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//.test(url)) return 'AWS SDK (@aws-sdk, @smithy)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.startsWith('node:internal/modules') || url.startsWith('node:internal/bootstrap')) return 'Node module loader and bootstrap';
  if (url.startsWith('node:')) {
    const mod = /^node:(?:internal\/)?([a-z_]+)/.exec(url)?.[1] ?? 'other';
    const area = mod === 'fs' ? 'fs' : /stream/.test(mod) ? 'streams' : /http|net|tls|dns|url/.test(mod) ? 'network' : mod === 'crypto' ? 'crypto' : 'other';
    return `Node core: ${area}`;
  }
  return 'other';
}

const FLOWSYNC_CODE = /\/dist\/src\//;

/**
 * Attribute each sample to the flowsync function nearest the top of its stack (its own time plus
 * the Node and library calls it makes), so "walk", "stat cache load", "manifest parse" and so on
 * show up as what they cost in total. Samples with module loading on the stack count as start-up;
 * samples with no flowsync frame (event-loop callbacks inside the SDK or Node) as such.
 */
function attribute(prof: CpuProfile, selfUs: Map<number, number>): { label: string; ms: number; share: number }[] {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, us] of selfUs) {
    const leaf = byId.get(id)!.callFrame.functionName;
    let label: string | null = null;
    if (leaf === '(garbage collector)') label = 'garbage collection';
    else if (leaf === '(idle)') label = 'idle: waiting on I/O (network, disk)';
    else if (leaf === '(program)') label = 'V8 and native code (compile, start-up)';
    else {
      let nearest: string | null = null;
      let loading = false;
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        if (f.url.startsWith('node:internal/modules')) loading = true;
        if (!nearest && FLOWSYNC_CODE.test(f.url)) nearest = `${f.functionName || '(anonymous)'} (${shortUrl(f.url)}:${f.lineNumber + 1})`;
      }
      if (loading) label = 'module loading (importing flowsync, the SDK and their dependencies)';
      else if (nearest) label = nearest;
      else {
        const g = groupOf(byId.get(id)!.callFrame.url, leaf);
        label = g.startsWith('AWS SDK') ? 'AWS SDK, called back outside any flowsync frame' : `no flowsync frame on the stack: ${g}`;
      }
    }
    totals.set(label, (totals.get(label) ?? 0) + us);
    all += us;
  }
  return [...totals].sort((a, b) => b[1] - a[1]).map(([label, us]) => ({ label, ms: us / 1000, share: all > 0 ? us / all : 0 }));
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 1);
  const j = url.lastIndexOf('node_modules/');
  if (j >= 0) return url.slice(j);
  return url;
}

export function summarizeCpuProfile(file: string, scenario: ScenarioId, files: number, wallMs: number, phases: ProfileReport['phases']): ProfileReport {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i + 1] ?? 0));
  }
  const groups = new Map<string, number>();
  const fns = new Map<string, { where: string; us: number }>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const g = groupOf(url, functionName);
    groups.set(g, (groups.get(g) ?? 0) + us);
    total += us;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const f = fns.get(key) ?? { where, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  return {
    scenario,
    files,
    wallMs,
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: us / 1000, share: total > 0 ? us / total : 0 })),
    byFlowsyncFunction: attribute(prof, selfUs),
    top: [...fns]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 15)
      .map(([key, f]) => ({ fn: key.slice(0, key.length - f.where.length).trim(), where: f.where, ms: f.us / 1000 })),
    phases,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function medianWall(bench: Bench, cmd: CommandSpec, times = 5): Promise<number> {
  const walls: number[] = [];
  for (let i = 0; i < times; i++) {
    const { run } = await bench.exec(cmd);
    if (run.exitCode !== 0) throw new Error(`profiling: ${cmd.argv.slice(0, 4).join(' ')} failed: ${run.stderr.slice(-500)}`);
    walls.push(run.wallMs);
  }
  return median(walls);
}

export async function profileFlowsync(bench: Bench, c: Contender, tmp: string, log: (s: string) => void): Promise<ProfileReport[]> {
  const root = path.join(tmp, 'profile');
  rmSync(root, { recursive: true, force: true });
  const work = path.join(root, 'src');
  cpSync(bench.prepared.pristine, work, { recursive: true });
  const tree: WorkTree = { root: work, seed: bench.o.seed, facts: new Map(bench.prepared.facts), roles: new Map(bench.prepared.roles), generation: 100 };
  const loc = bench.location(c, 'profile');
  await bench.clear(loc);
  const ctx = bench.ctx(c, path.join(root, 'cache'));
  const reports: ProfileReport[] = [];

  /** Run one flowsync command under `node --cpu-prof` and summarise its profile. */
  const profiled = async (scenario: ScenarioId, make: (profCtx: typeof ctx) => CommandSpec, phases: ProfileReport['phases'] = []) => {
    const dir = path.join(root, `cpu-${scenario}`);
    mkdirSync(dir, { recursive: true });
    const { run } = await bench.exec(make({ ...ctx, cpuProfileDir: dir }));
    if (run.exitCode !== 0) throw new Error(`profiling ${scenario} failed: ${run.stderr.slice(-500)}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`node --cpu-prof wrote no profile in ${dir}`);
    const r = summarizeCpuProfile(path.join(dir, file), scenario, tree.facts.size, run.wallMs, phases);
    r.cpuMs = run.userMs + run.sysMs;
    reports.push(r);
    log(`profile: ${scenario}: ${run.wallMs.toFixed(0)} ms under the profiler; ${r.byFlowsyncFunction.slice(0, 3).map((g) => `${g.label} ${g.ms.toFixed(0)} ms`).join(', ')}`);
  };

  // The initial push (cold stat cache, empty prefix): where the per-file cost goes. Past 20k files
  // a profile of a many-minute run is too big to be worth it: the push runs unprofiled.
  const large = tree.facts.size > 20_000;
  if (large) {
    log('profile: initial push (unprofiled at this size)');
    const err = await bench.untimed('profile: initial push', c.push(ctx, work, loc));
    if (err) throw new Error(err);
  } else {
    await profiled('push-initial', (p) => c.push(p, work, loc));
  }

  const push = c.push(ctx, work, loc);
  const cli = push.argv.slice(0, 2);
  const remote = push.argv[4]!;
  const phases: ProfileReport['phases'] = [];
  const phase = async (label: string, argv: string[]) => {
    phases.push({ label, ms: await medianWall(bench, { ...push, argv }) });
    log(`profile: ${label}: ${phases.at(-1)!.ms.toFixed(0)} ms`);
  };
  await phase('node -e 0 (Node start-up)', [process.execPath, '-e', '0']);
  await phase('flowsync --help (start-up + CLI load)', [...cli, '--help']);
  await phase('flowsync scan (+ walk, stat cache, manifest build)', [...cli, 'scan', work]);
  await phase('flowsync status (+ S3 client, remote manifest fetch, parse, plan)', [...cli, 'status', work, remote]);
  await phase('flowsync push, no change', push.argv);

  await profiled('push-nochange', (p) => c.push(p, work, loc), phases);
  await changeFiles(tree, 0.01, 'profile');
  await profiled('push-change', (p) => c.push(p, work, loc));
  if (!large) await profiled('pull-fresh', (p) => c.pull(p, loc, path.join(root, 'pulled')));
  await bench.clear(loc);
  rmSync(root, { recursive: true, force: true });
  return reports;
}

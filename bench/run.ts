/**
 * The bench run: s3rver (and Azurite) behind counting, delaying proxies and the same data for
 * every contender; one pass per modelled network (loopback, then e.g. a 20 ms round trip), each
 * pass going through the scenarios in order (bench/bench.ts), every result checked.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bench, BUCKET, type Log, type Prepared } from './bench.js';
import { anchorContenders, azureAnchorContenders } from './contenders/anchors.js';
import { baselineContender } from './contenders/baseline.js';
import { flowsyncContender } from './contenders/flowsync.js';
import type { Contender } from './contenders/types.js';
import { translateIgnoreLines } from './data/excludes.js';
import { generateBigFile, generateTree, type FileSpec } from './data/generate.js';
import { hashTree, listTaken, loadPrefectignore } from './data/tree.js';
import { calibrateServer } from './infra/calibrate.js';
import { describeMachine } from './infra/machine.js';
import { measure } from './infra/measure.js';
import { LOOPBACK } from './infra/proxy.js';
import { startStores } from './infra/stores.js';
import type { BenchOptions } from './options.js';
import { profileFlowsync } from './profile.js';
import { SCENARIOS, type BenchResult, type ContenderInfo, type DataInfo, type NetworkInfo } from './types.js';

const CHANGE_FRACTION = 0.01;
const LARGE = 8 * 1024 * 1024;

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
    when: (ids) => ids.some((id) => id.startsWith('rclone-tuned') || id === 'aws-tuned'),
    text:
      'Anchors run twice: at their defaults and at their best flags for many small files (rclone `--transfers 16 --checkers 16 --fast-list`, with and without `-c`; ' +
      'aws s3 sync with `max_concurrent_requests` raised in its config file). "Best anchor" is the fastest correct one of all of them, in each scenario and network.',
  },
  {
    when: (ids) => ids.includes('rclone-az') || ids.includes('rclone-az-checksum'),
    text:
      "Azure: Azurite (in memory) behind its own counting proxy; rclone's azureblob backend reaches it through an account SAS URL (rclone 1.60 takes `endpoint` as a DNS suffix and its emulator mode only knows port 10000).",
  },
  {
    when: () => true,
    text:
      'Pulled folders, caches and prefixes a run is done with are deleted after the timed work (at the end, or before a run when disk runs short, then 65 s of waiting): ' +
      "on an ext4 without a journal the kernel's inode allocator checks every inode freed in the last minute or so before it reuses one, so files created right after thousands were deleted " +
      'cost several times more (a 5,000-file pull: 2.0 s vs 8–12 s here). Deleting between timed commands made each tool pay for the one before it.',
  },
  {
    when: (ids) => ids.includes('flowsync'),
    text:
      'flowsync keeps a stat cache (size, mtime, ctime, inode → SHA-256) per source folder; the no-change and 1 % rows use a warm cache, as the same deploy machine pushing again has. ' +
      'The "cold stat cache" row shows a push from a machine that never pushed this folder: every file is read and hashed. The anchors keep no such state, so their no-change row is already "cold".',
  },
];

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
  // The walk floor: find over the whole tree (page cache warm from the hashing above), best of 3.
  const finds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await measure({ argv: ['find', pristine, '-printf', '%s %T@\n'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' }, cwd: tmp }, { stdout: '/dev/null', stderr: '/dev/null' }, 120);
    if (m.exitCode === 0) finds.push(m.wallMs);
  }
  if (finds.length > 0) data.findWalkMs = Math.min(...finds);
  log(`data: ${data.files} files to push (${(bytes / 2 ** 20).toFixed(1)} MiB), ${data.ignoredFiles} ignored, ${data.folders} folders, depth ${depth}`);
  return { pristine, facts, roles, excludes, data };
}

export function allContenders(): Contender[] {
  return [
    flowsyncContender('s3'),
    flowsyncContender('s3', 'packed'),
    flowsyncContender('s3', 'cached'),
    baselineContender,
    ...anchorContenders,
    flowsyncContender('azure'),
    ...azureAnchorContenders,
    flowsyncContender('local'),
  ];
}

/**
 * --quick leaves out the anchors' default flag sets where a tuned set of the same tool runs (the
 * same code with fewer transfers), and in its latency pass the slower of two sets of one tool:
 * the run stays under two minutes and every kind of contender still runs.
 */
const QUICK_SKIP = new Set(['rclone', 'rclone-checksum', 'aws', 'rclone-az-checksum']);
const QUICK_SKIP_AT_LATENCY = new Set(['rclone-tuned', 'aws-tuned', 'baseline', 's3cmd']);

/** Who runs in a pass with latency by default: flowsync's layouts and the anchors at their best flags. */
function atLatencyByDefault(c: Contender, quick: boolean): boolean {
  if (quick && QUICK_SKIP_AT_LATENCY.has(c.id)) return false;
  return (c.kind === 'flowsync' && c.store !== 'local') || c.tuned === true;
}

function networkOf(o: BenchOptions, latencyMs: number, available: Contender[]): NetworkInfo {
  const bandwidth = latencyMs > 0 ? o.bandwidthBps : null;
  const id = latencyMs === 0 ? 'loopback' : `${latencyMs}ms${bandwidth ? `-${Math.round(bandwidth / 1e6)}MBps` : ''}`;
  const label = latencyMs === 0 ? 'loopback' : `${latencyMs} ms round trip${bandwidth ? `, ${Math.round(bandwidth / 1e6)} MB/s` : ''}`;
  const who = latencyMs === 0 ? available : available.filter((c) => (o.latencyContenders ? o.latencyContenders.includes(c.id) : atLatencyByDefault(c, o.quick)));
  return { id, label, latencyMs, bandwidthBps: bandwidth, contenders: who.map((c) => c.id) };
}

/**
 * `checkpoint` gets the result so far after every run of every pass: a run stopped early (a deadline,
 * a crash) still leaves its report behind.
 */
export async function runBench(o: BenchOptions, repoRoot: string, argv: string[], log: Log, checkpoint?: (partial: BenchResult) => void): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const tmp = o.tmp ?? mkdtempSync(path.join(os.tmpdir(), 'flowsync-bench-'));
  mkdirSync(tmp, { recursive: true });
  log(`scratch folder: ${tmp}`);

  const known = allContenders();
  for (const [flag, ids] of [['--contenders', o.contenders], ['--latency-contenders', o.latencyContenders]] as const) {
    const unknown = (ids ?? []).filter((id) => !known.some((c) => c.id === id));
    if (unknown.length > 0) throw new Error(`${flag}: unknown contender(s): ${unknown.join(', ')}; known: ${known.map((c) => c.id).join(', ')}`);
  }
  const wanted = known.filter((c) =>
    o.contenders ? o.contenders.includes(c.id) : (c.store !== 'local' || o.local) && (c.store !== 'azure' || o.azure) && !(o.quick && QUICK_SKIP.has(c.id)),
  );
  const infos: ContenderInfo[] = [];
  const available: Contender[] = [];
  for (const c of wanted) {
    const d = c.detect(repoRoot);
    infos.push({
      id: c.id,
      label: c.label,
      store: c.store,
      kind: c.kind,
      ...(c.tuned ? { tuned: true } : {}),
      ...(c.pullOnly ? { pullOnly: true } : {}),
      describe: c.describe,
      available: d.available,
      ...(d.available ? { version: d.version } : { reason: d.reason }),
    });
    if (d.available) available.push(c);
    log(`contender ${c.id}: ${d.available ? d.version : `MISSING — ${d.reason}`}`);
  }
  const machine = describeMachine(Object.fromEntries(infos.map((i) => [i.id, i.version ?? `missing: ${i.reason}`])));
  const networks = o.latenciesMs.map((ms) => networkOf(o, ms, available));

  const prepared = await prepareData(o, tmp, log);
  const stores = await startStores(BUCKET, available.some((c) => c.store === 'azure'));
  const s3 = stores.s3;
  log(`s3rver on ${s3.server.endpoint}, counting proxy on ${s3.proxy.endpoint}${stores.azure ? `; Azurite on ${stores.azure.server.endpoint}, proxy on ${stores.azure.proxy.endpoint}` : ''}`);
  const credentials = { accessKeyId: s3.server.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.server.env.AWS_SECRET_ACCESS_KEY! };
  const calibration = await calibrateServer({ direct: s3.server.endpoint, proxied: s3.proxy.endpoint }, credentials, s3.server.env.AWS_REGION!, BUCKET, o.quick ? 200 : 500);
  // The calibration's objects stay (a few MB): deleting them now would slow the first run's file creation (infra/trash.ts).
  log(
    `server floor (8 KiB objects, 16 in flight): direct ${calibration.direct.putPerSec} PUT/s, ${calibration.direct.getPerSec} GET/s; ` +
      `through the proxy ${calibration.proxied.putPerSec} PUT/s, ${calibration.proxied.getPerSec} GET/s`,
  );
  const bench = new Bench(o, repoRoot, tmp, prepared, stores, log);
  let bigFileBytes: number | null = null;
  let profiles: BenchResult['profiles'];
  /** The result as it stands; `partial` names the last finished step when the run is still going. */
  const assemble = (partial: string | null): BenchResult => {
    const notes = [...bench.notes];
    const ran = networks.flatMap((n) => n.contenders);
    notes.push(...STANDING_NOTES.filter((n) => n.when(ran)).map((n) => n.text));
    if (networks.some((n) => n.latencyMs > 0)) {
      notes.push(
        'Latency passes: the proxy holds every request half the round trip before forwarding it and the response half the round trip before its headers; ' +
          'the first request on a new connection waits one more round trip (the TCP handshake; no TLS here). Loopback passes add nothing.',
      );
    }
    for (const c of infos.filter((i) => !i.available && i.kind === 'flowsync')) notes.push(`${c.label}: ${c.reason}.`);
    if (prepared.data.unsupportedIgnoreLines.length > 0) {
      notes.push(
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
      networks,
      scenarios: SCENARIOS.filter((s) => o.scenarios.includes(s.id) && (o.big || !s.id.endsWith('-big'))),
      records: bench.records,
      notes: partial ? [`Partial result, written after ${partial}; the run had not finished.`, ...notes] : notes,
      ...(profiles ? { profiles } : {}),
    };
  };
  try {
    const enter = (net: NetworkInfo, what: string) => {
      bench.network = net;
      bench.contenders = available.filter((c) => net.contenders.includes(c.id));
      stores.setNetwork(net.latencyMs === 0 ? LOOPBACK : { latencyMs: net.latencyMs, bandwidthBps: net.bandwidthBps });
      log(`network pass "${net.label}"${what}: ${net.contenders.join(', ')}`);
    };
    // Every pass's tree scenarios first, then every pass's large file: the side-by-side columns of
    // the many-file scenarios are complete first when a run has to stop at a deadline.
    for (const net of networks) {
      enter(net, '');
      for (let run = 1; run <= o.runs; run++) {
        await bench.runOnce(run);
        checkpoint?.(assemble(`${net.label}, run ${run}`));
      }
    }
    if (o.big && (bench.selected('push-big') || bench.selected('pull-big'))) {
      const dir = path.join(tmp, 'big', 'src');
      log(`big: generating one ${(o.bigSize / 2 ** 20).toFixed(0)} MiB file`);
      const spec = await generateBigFile(dir, o.bigSize, o.seed);
      const big = { dir, facts: await hashTree(dir, [spec.path]) };
      bigFileBytes = o.bigSize;
      for (const net of networks) {
        enter(net, ', large file');
        for (let run = 1; run <= o.runs; run++) {
          await bench.runBig(run, big.dir, big.facts);
          checkpoint?.(assemble(`${net.label}, large file, run ${run}`));
        }
      }
    }
    rmSync(path.join(tmp, 'big'), { recursive: true, force: true });
    stores.setNetwork(LOOPBACK);
    if (o.profile) {
      const flowsync = available.find((c) => c.id === 'flowsync');
      bench.network = networks[0]!;
      if (flowsync) profiles = await profileFlowsync(bench, flowsync, tmp, log);
      else bench.notes.push('--profile: flowsync is not among the contenders; nothing profiled.');
    }
  } finally {
    await stores.close();
    if (!o.keep) await bench.trash.empty(false);
    if (!o.keep && !o.tmp) rmSync(tmp, { recursive: true, force: true });
  }
  return assemble(null);
}

function relativeTo(root: string, dir: string): string {
  return path.relative(root, dir) || '.';
}

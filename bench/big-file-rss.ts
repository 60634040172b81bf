/**
 * Issue 3 acceptance: one 1 GiB file round-trips on every backend with the flowsync process
 * staying under 200 MB peak RSS.
 *
 * For each backend in turn (local store, S3 on s3rver, Azure on Azurite, GCS on the in-repo
 * emulator — every server in a process of its own, so its memory is not counted):
 * `flowsync push <src> <remote> --json`, then `flowsync pull <remote> <empty dir> --json`, each
 * measured as a whole process by bench/infra/measure.ts (wall time, peak RSS via wait4); the
 * pulled file's sha256 must equal the source's. The source is pseudo-random (AES-CTR keystream,
 * bench/data/generate.ts), in a temp folder removed at the end; the pulled copy and the server
 * are removed after each backend.
 *
 * Run:  npm run bench:big-rss                      (builds first, like `npm run bench`)
 *  or:  node dist/bench/big-file-rss.js [--size-mib N] [--only local,s3,azure,gcs] [--cli FILE]
 * The CLI is the package's `bin` (package.json) unless --cli names another build of it.
 * Writes bench/results/big-file-rss.md (with the default size and backends only: a smaller or
 * partial run just prints its table). Exit code 1 when a round trip fails or a peak RSS is over
 * the limit.
 */
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAzurite } from '../test/servers/azurite.js';
import { spawnGcsEmulator } from '../test/servers/gcs.js';
import { startS3rver } from '../test/servers/s3rver.js';
import { generateBigFile } from './data/generate.js';
import { describeMachine, firstLine } from './infra/machine.js';
import { measure, type MeasuredRun } from './infra/measure.js';

const MiB = 1024 * 1024;
const LIMIT_BYTES = 200e6; // "200 MB" = 190.7 MiB
const BUCKET = 'big';
const TIMEOUT_SEC = 900;
const BACKENDS = ['local', 's3', 'azure', 'gcs'] as const;
type BackendName = (typeof BACKENDS)[number];

/** A running store: the remote address, the CLI's environment for it, and how to stop it. */
interface Store {
  remote: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function startStore(name: BackendName, work: string): Promise<Store> {
  switch (name) {
    case 'local':
      return { remote: path.join(work, 'store'), env: {}, stop: async () => rmSync(path.join(work, 'store'), { recursive: true, force: true }) };
    case 's3': {
      const s3 = await startS3rver({ buckets: [BUCKET] });
      return { remote: `s3://${BUCKET}/proj`, env: s3.env, stop: s3.stop };
    }
    case 'azure': {
      const az = await startAzurite({ containers: [BUCKET] });
      return { remote: `az://${BUCKET}/proj`, env: az.env, stop: az.stop };
    }
    case 'gcs': {
      const gcs = await spawnGcsEmulator({ buckets: [BUCKET] });
      return { remote: `gs://${BUCKET}/proj`, env: { STORAGE_EMULATOR_HOST: gcs.endpoint }, stop: gcs.stop };
    }
  }
}

interface Row {
  backend: BackendName;
  push?: MeasuredRun;
  pull?: MeasuredRun;
  verified: boolean;
  error?: string;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file under `dir` (relative, '/'-separated), flowsync's own state folder left out. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join('/'))
    .filter((p) => !p.startsWith('.flowsync/'));
}

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bench'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('repository root not found');
  }
}

/** Newest modification time of the built code (the other builds' dist/src and a bundle in dist/cli). */
function distStamp(root: string): number {
  let newest = 0;
  for (const dir of ['src', 'cli'].map((d) => path.join(root, 'dist', d)).filter((d) => existsSync(d))) {
    for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) newest = Math.max(newest, statSync(path.join(dir, f)).mtimeMs);
  }
  return newest;
}

/** Which build was measured: the CLI file, the commit, and whether src/ differs from it. */
function provenance(root: string, cli: string): string {
  const commit = firstLine('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = firstLine('git', ['-C', root, 'status', '--porcelain', '--', 'src']);
  return `\`${path.relative(root, cli)}\` built ${new Date(statSync(cli).mtimeMs).toISOString()}, commit ${commit ?? '?'}${dirty ? ' + uncommitted changes in src/' : ''}`;
}

async function roundTrip(name: BackendName, o: { cli: string; work: string; src: string; file: string; sha: string; log: (s: string) => void }): Promise<Row> {
  const row: Row = { backend: name, verified: false };
  const home = path.join(o.work, `home-${name}`);
  const dest = path.join(o.work, `pulled-${name}`);
  mkdirSync(home);
  mkdirSync(dest);
  const store = await startStore(name, o.work);
  try {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TMPDIR: home, FLOWSYNC_CACHE_DIR: path.join(home, 'cache'), ...store.env };
    const run = async (phase: 'push' | 'pull', args: string[], expect: Record<string, number>): Promise<MeasuredRun> => {
      const logs = { stdout: path.join(home, `${phase}.out`), stderr: path.join(home, `${phase}.err`) };
      const m = await measure({ argv: [process.execPath, o.cli, phase, ...args, '--json'], env, cwd: home }, logs, TIMEOUT_SEC);
      o.log(`${name} ${phase}: exit ${m.exitCode}, ${(m.wallMs / 1000).toFixed(1)} s, ${(m.maxRssKb / 1024).toFixed(0)} MiB peak RSS, CPU ${((m.userMs + m.sysMs) / 1000).toFixed(1)} s (user ${(m.userMs / 1000).toFixed(1)} + sys ${(m.sysMs / 1000).toFixed(1)})`);
      if (m.exitCode !== 0 || m.timedOut) throw new Error(`${phase} exit ${m.exitCode}${m.timedOut ? ' (timed out)' : ''}: ${m.stderr.trim().slice(-500)}`);
      const summary = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      for (const [k, v] of Object.entries(expect)) if (summary[k] !== v) throw new Error(`${phase} summary ${k}=${String(summary[k])}, expected ${v}`);
      return m;
    };
    row.push = await run('push', [o.src, store.remote], { uploaded: 1 });
    row.pull = await run('pull', [store.remote, dest], { downloaded: 1 });
    const files = listFiles(dest);
    const pulledSha = files.length === 1 && files[0] === o.file ? await sha256File(path.join(dest, o.file)) : `files ${files.join(', ')}`;
    row.verified = pulledSha === o.sha;
    if (!row.verified) row.error = `pulled sha256 ${pulledSha} ≠ source ${o.sha}`;
  } catch (err) {
    row.error = (err as Error).message;
  } finally {
    await store.stop();
    rmSync(dest, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
  return row;
}

function report(rows: Row[], o: { size: number; startedAt: Date; build: string; rebuilt: boolean }): string {
  const m = describeMachine({});
  const mib = (r?: MeasuredRun) => (r ? `${(r.maxRssKb / 1024).toFixed(0)}${r.maxRssKb * 1024 >= LIMIT_BYTES ? ' ⚠' : ''}` : '—');
  const secs = (r?: MeasuredRun) => (r ? (r.wallMs / 1000).toFixed(1) : '—');
  const cpu = (r?: MeasuredRun) => (r ? ((r.userMs + r.sysMs) / 1000).toFixed(1) : '—');
  const { size, startedAt } = o;
  const lines = [
    `# ${size % 1024 ** 3 === 0 ? `${size / 1024 ** 3} GiB` : `${size / MiB} MiB`} file round trip: peak RSS per backend (issue 3)`,
    '',
    `\`npm run bench:big-rss\` · ${startedAt.toISOString().slice(0, 10)} (started ${startedAt.toISOString()})`,
    '',
    `**Machine:** ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Node ${m.node}; load average at the end ${m.loadAverage.join(' / ')}.`,
    '',
    `**CLI:** ${o.build}.${o.rebuilt ? ' ⚠ dist/ was rebuilt during this run: the rows may not all come from the same build.' : ''}`,
    '',
    `One pseudo-random file of ${(size / MiB).toFixed(0)} MiB: \`flowsync push <dir> <remote> --json\`, then \`flowsync pull <remote> <empty dir> --json\`, ` +
      'defaults otherwise, fresh stat cache. Wall time and peak RSS of the whole flowsync process (wait4 `ru_maxrss`, bench/infra/measure.ts); ' +
      'each server runs in a separate process on this machine (s3rver on disk, Azurite and the GCS emulator in memory) and is not counted. ' +
      `Limit: 200 MB = ${(LIMIT_BYTES / MiB).toFixed(1)} MiB; ⚠ = at or over it.`,
    '',
    '| backend | push wall s | push CPU s (user+sys) | push peak RSS MiB | pull wall s | pull CPU s | pull peak RSS MiB | sha256 verified |',
    '|---|---:|---:|---:|---:|---:|---:|:---:|',
    ...rows.map((r) => `| ${r.backend} | ${secs(r.push)} | ${cpu(r.push)} | ${mib(r.push)} | ${secs(r.pull)} | ${cpu(r.pull)} | ${mib(r.pull)} | ${r.verified ? '✓' : '✗'} |`),
  ];
  const errors = rows.filter((r) => r.error);
  if (errors.length > 0) lines.push('', ...errors.map((r) => `- ${r.backend}: ${r.error}`));
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  let sizeMib = 1024;
  let only: BackendName[] = [...BACKENDS];
  let cliArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--size-mib') sizeMib = Number(argv[++i]);
    else if (argv[i] === '--only') only = argv[++i]!.split(',') as BackendName[];
    else if (argv[i] === '--cli') cliArg = argv[++i];
    else throw new Error(`unknown option ${argv[i]}; usage: big-file-rss [--size-mib N] [--only local,s3,azure,gcs] [--cli FILE]`);
  }
  if (!(sizeMib > 0) || only.some((b) => !BACKENDS.includes(b))) throw new Error(`bad --size-mib or --only (backends: ${BACKENDS.join(', ')})`);
  const root = repoRoot();
  const bin = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: { flowsync: string } }).bin.flowsync;
  const cli = path.resolve(cliArg ?? path.join(root, bin));
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build"`);
  const build = provenance(root, cli);
  const stamp = distStamp(root);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const startedAt = new Date();
  const work = mkdtempSync(path.join(os.tmpdir(), 'flowsync-big-rss-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  process.once('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    const src = path.join(work, 'src');
    const size = sizeMib * MiB;
    const spec = await generateBigFile(src, size, 'big-file-rss');
    const sha = await sha256File(path.join(src, spec.path));
    log(`source: ${spec.path}, ${sizeMib} MiB, sha256 ${sha}`);
    const rows: Row[] = [];
    for (const name of only) rows.push(await roundTrip(name, { cli, work, src, file: spec.path, sha, log }));
    const md = report(rows, { size, startedAt, build, rebuilt: distStamp(root) !== stamp });
    process.stdout.write(md);
    if (sizeMib === 1024 && only.length === BACKENDS.length) {
      const out = path.join(root, 'bench', 'results', 'big-file-rss.md');
      writeFileSync(out, md);
      log(`report: ${out}`);
    }
    return rows.every((r) => r.verified && r.push!.maxRssKb * 1024 < LIMIT_BYTES && r.pull!.maxRssKb * 1024 < LIMIT_BYTES) ? 0 : 1;
  } finally {
    cleanup();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`big-file-rss failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

/** Command-line options of `npm run bench -- …`. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SCENARIOS, type ScenarioId } from './types.js';

export interface BenchOptions {
  quick: boolean;
  files: number;
  runs: number;
  seed: string;
  data: string | null;
  big: boolean;
  bigSize: number;
  contenders: string[] | null;
  scenarios: ScenarioId[];
  local: boolean;
  out: string;
  name: string;
  tmp: string | null;
  keep: boolean;
  profile: boolean;
  timeoutSec: number;
  /** Only render the report again from this JSON. */
  reportOnly: string | null;
  /** Round trips the proxies add, one network pass each (0 = plain loopback). */
  latenciesMs: number[];
  /** Bytes per second each way in the passes with latency (null: no cap). */
  bandwidthBps: number | null;
  /** Contenders of the passes with latency (null: flowsync's layouts and the tuned anchors). */
  latencyContenders: string[] | null;
  /** Run the Azure contenders on Azurite. */
  azure: boolean;
  /** Regenerate the README's bench section from this run (or from --report-only's file). */
  updateReadme: boolean;
  /** Markdown for the README's "where flowsync still falls short" (--shortfalls FILE, written by a person). */
  shortfalls: string;
}

export const HELP = `npm run bench -- [options]

  --quick            small and fast (250 files, 1 run, no large-file scenario, the anchors' default flag sets left out
                     where their tuned set runs): 55 s on this 2-core machine when it is idle
  --files N          files a push takes in the generated tree (default 5000; quick 250)
  --runs N           repetitions; median and spread are reported (default 3; quick 1)
  --seed S           generator seed (default "flowsync")
  --data DIR         measure a copy of an existing folder instead of a generated tree
  --big / --no-big   include the single-large-file push and pull (default: on, off with --quick)
  --big-size SIZE    size of that file, e.g. 1GiB (default), 200MiB
  --contenders LIST  comma-separated ids (default: all): flowsync, flowsync-packed, flowsync-cached, baseline,
                     rclone, rclone-checksum, rclone-tuned, rclone-tuned-checksum, aws, aws-tuned, s3cmd,
                     flowsync-az, rclone-az, rclone-az-checksum, flowsync-local
  --latency LIST     round trips the proxy adds to every request, one pass each, reported side by side
                     (default 0,20ms; 0 = plain loopback); the first request on a new connection pays one more
  --bandwidth RATE   cap each direction in the passes with latency, e.g. 50MB/s (default: none)
  --latency-contenders LIST  who runs in the passes with latency (default: flowsync's layouts and the tuned
                     anchors; one-request-at-a-time tools would spend minutes in round trips)
  --no-azure         skip the Azure contenders (Azurite)
  --scenarios LIST   comma-separated scenario ids (default: all)
  --no-local         skip flowsync on the local store
  --profile          afterwards, profile flowsync's no-change and 1 %-change pushes (node --cpu-prof)
  --out DIR          where latest.md/.svg/.json go (default bench/results)
  --name NAME        file name stem (default "latest")
  --tmp DIR          scratch folder (default: a new folder in the OS temp dir)
  --keep             keep the scratch folder
  --timeout SEC      per command (default 900)
  --report-only FILE re-render FILE.md/.svg from a results JSON written earlier (no runs)
  --update-readme    also regenerate README.md's bench section (between the bench:start/end markers)
  --shortfalls FILE  with --update-readme: markdown on where flowsync still falls short (written by a person)
`;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 2 ** 20, g: 1e9, gb: 1e9, gib: 2 ** 30 };

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`Not a size: ${JSON.stringify(text)} (use e.g. 1GiB, 200MiB, 5000000)`);
  return Math.round(Number(m[1]) * unit);
}

/** "0,20ms" → [0, 20]: milliseconds, "ms" optional, each at most once, in the order given. */
export function parseLatencies(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d+(?:\.\d+)?)\s*(ms)?$/i.exec(part);
    if (!m) throw new Error(`--latency: not a round trip: ${JSON.stringify(part)} (use e.g. 0,20ms)`);
    const ms = Number(m[1]);
    if (ms > 1000) throw new Error(`--latency: ${ms} ms is more than any cloud region is away (at most 1000)`);
    if (!out.includes(ms)) out.push(ms);
  }
  if (out.length === 0) throw new Error('--latency: give at least one round trip, e.g. 0 or 0,20ms');
  return out;
}

function positiveInt(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      quick: { type: 'boolean' },
      files: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string' },
      data: { type: 'string' },
      big: { type: 'boolean' },
      'no-big': { type: 'boolean' },
      'big-size': { type: 'string' },
      contenders: { type: 'string' },
      scenarios: { type: 'string' },
      'no-local': { type: 'boolean' },
      profile: { type: 'boolean' },
      out: { type: 'string' },
      name: { type: 'string' },
      tmp: { type: 'string' },
      keep: { type: 'boolean' },
      timeout: { type: 'string' },
      'report-only': { type: 'string' },
      latency: { type: 'string' },
      bandwidth: { type: 'string' },
      'latency-contenders': { type: 'string' },
      'no-azure': { type: 'boolean' },
      'update-readme': { type: 'boolean' },
      shortfalls: { type: 'string' },
    },
  });
  if (values.help) return 'help';
  const quick = Boolean(values.quick);
  const known = new Set(SCENARIOS.map((s) => s.id));
  const scenarios = values.scenarios ? (values.scenarios.split(',').map((s) => s.trim()) as ScenarioId[]) : SCENARIOS.map((s) => s.id);
  for (const s of scenarios) if (!known.has(s)) throw new Error(`Unknown scenario ${JSON.stringify(s)}; known: ${[...known].join(', ')}`);
  return {
    quick,
    files: positiveInt(values.files, '--files', quick ? 250 : 5000),
    runs: positiveInt(values.runs, '--runs', quick ? 1 : 3),
    seed: values.seed ?? 'flowsync',
    data: values.data ? path.resolve(values.data) : null,
    big: values['no-big'] ? false : values.big ? true : !quick,
    bigSize: values['big-size'] ? parseSize(values['big-size']) : 2 ** 30,
    contenders: values.contenders ? values.contenders.split(',').map((s) => s.trim()) : null,
    scenarios,
    local: !values['no-local'],
    out: path.resolve(values.out ?? path.join(repoRoot, 'bench', 'results')),
    name: values.name ?? 'latest',
    tmp: values.tmp ? path.resolve(values.tmp) : null,
    keep: Boolean(values.keep),
    profile: Boolean(values.profile),
    timeoutSec: positiveInt(values.timeout, '--timeout', 900),
    reportOnly: values['report-only'] ? path.resolve(values['report-only']) : null,
    latenciesMs: parseLatencies(values.latency ?? '0,20ms'),
    bandwidthBps: values.bandwidth ? parseSize(values.bandwidth.replace(/\/s$/i, '')) : null,
    latencyContenders: values['latency-contenders'] ? values['latency-contenders'].split(',').map((s) => s.trim()) : null,
    azure: !values['no-azure'],
    updateReadme: Boolean(values['update-readme']),
    shortfalls: values.shortfalls ? readFileSync(path.resolve(values.shortfalls), 'utf8').trim() : '',
  };
}

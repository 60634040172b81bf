/** What one bench invocation records: the options, the machine, and every measured command. */
import type { ServerCalibration } from './infra/calibrate.js';
import type { MachineInfo } from './infra/machine.js';
import type { Measurement } from './infra/measure.js';
import type { RequestCounts } from './infra/proxy.js';

export type ScenarioId =
  | 'push-initial'
  | 'push-nochange'
  | 'push-nochange-cold'
  | 'push-change'
  | 'push-delete'
  | 'pull-fresh'
  | 'pull-change'
  | 'push-big'
  | 'pull-big';

export interface ScenarioInfo {
  id: ScenarioId;
  title: string;
  /** What the state is before, and what is timed. */
  detail: string;
  /** Only flowsync's own contenders that push (a stat cache is flowsync's). */
  flowsyncOnly?: boolean;
  /** Old results: contenders this scenario was for. */
  only?: string[];
}

export const SCENARIOS: ScenarioInfo[] = [
  { id: 'push-initial', title: 'initial push', detail: 'empty prefix; the whole tree is uploaded' },
  { id: 'push-nochange', title: 'no-change push', detail: 'same tree pushed again; flowsync with a warm stat cache (the same deploy machine pushes again)' },
  {
    id: 'push-nochange-cold',
    title: 'no-change push, cold stat cache',
    detail: 'as above but flowsync starts with an empty stat cache (a new machine or CI runner): every file is hashed',
    flowsyncOnly: true,
  },
  { id: 'push-change', title: 'push after 1 % changed', detail: '1 % of the files rewritten (half keep their size)' },
  { id: 'push-delete', title: 'push after 1 % deleted', detail: '1 % of the files deleted locally' },
  {
    id: 'pull-fresh',
    title: 'fresh pull',
    detail:
      "each tool's own prefix (aligned to the same tree, untimed) pulled into an empty folder; flowsync with an empty cache, except its warm-cache contender, whose cache an untimed pull filled",
  },
  { id: 'pull-change', title: 'incremental pull after 1 % changed', detail: '1 % changed and pushed by each tool (untimed), then pulled into the folder of the fresh pull' },
  { id: 'push-big', title: 'push of one large file', detail: 'a single file of --big-size (default 1 GiB) to an empty prefix' },
  { id: 'pull-big', title: 'pull of one large file', detail: 'that file pulled into an empty folder' },
];

export type Status =
  /** Done, and the result checked correct. */
  | 'ok'
  /** The Prefect-style baseline left deleted files on the remote: Prefect's behaviour, shown apart. */
  | 'stale'
  /** Exit code 0 but the tree is wrong: a failure. */
  | 'wrong'
  /** Non-zero exit code or timeout. */
  | 'failed'
  | 'skipped';

export interface RunRecord {
  run: number;
  /** The network pass (NetworkInfo.id); absent in results written before there were passes: loopback. */
  network?: string;
  scenario: ScenarioId;
  contender: string;
  status: Status;
  measurement?: Measurement;
  requests?: RequestCounts;
  problems?: string;
  /** flowsync's --json summary, or the baseline's. */
  summary?: Record<string, unknown>;
  stderrTail?: string;
  /** 1-minute load average when the command started (the machine is shared). */
  load1?: number;
}

export interface ContenderInfo {
  id: string;
  label: string;
  store: 's3' | 'azure' | 'local';
  /** Absent in old results (then read from the id). */
  kind?: 'flowsync' | 'anchor' | 'baseline';
  tuned?: boolean;
  pullOnly?: boolean;
  describe: string;
  available: boolean;
  version?: string;
  reason?: string;
}

export interface DataInfo {
  source: string;
  seed?: string;
  files: number;
  bytes: number;
  ignoredFiles: number;
  largestFile: number;
  depth: number;
  folders: number;
  unsupportedIgnoreLines: string[];
  links: number;
  changeCount: number;
  deleteCount: number;
  /** A `find DIR -printf '%s %T@\n'` walk of the whole tree (ignored folders included), warm page cache: the walk floor. */
  findWalkMs?: number;
  /** Results written before copyTreeMsByNetwork: `cp -r` of the pulled tree, fastest of the run (read as loopback's). */
  copyTreeMs?: number;
  /**
   * `cp -r` of the tree a pull places (the warm-cache pull's floor), fastest per network pass: the
   * warm-cache pull is compared with the copy of its own pass (file creation here varied 4×
   * between passes of one run: 0.65 s and 0.15 s).
   */
  copyTreeMsByNetwork?: Record<string, number>;
}

/** One pass of every scenario at one modelled network. */
export interface NetworkInfo {
  id: string;
  label: string;
  latencyMs: number;
  bandwidthBps: number | null;
  /** The contenders that ran in this pass. */
  contenders: string[];
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  argv: string[];
  options: Record<string, unknown>;
  machine: MachineInfo;
  data: DataInfo;
  bigFileBytes: number | null;
  /** Absent in results written before the harness calibrated the server. */
  calibration?: ServerCalibration;
  contenders: ContenderInfo[];
  /** Absent in old results: one loopback pass with every contender. */
  networks?: NetworkInfo[];
  scenarios: ScenarioInfo[];
  records: RunRecord[];
  notes: string[];
  profiles?: ProfileReport[];
}

export interface ProfileReport {
  scenario: ScenarioId;
  network?: string;
  files: number;
  wallMs: number;
  /** user+sys CPU of the profiled process. */
  cpuMs?: number;
  /** Self time grouped by where the code lives. */
  groups: { group: string; ms: number; share: number }[];
  /** Samples attributed to the nearest flowsync function on the stack (inclusive of what it calls). */
  byFlowsyncFunction: { label: string; ms: number; share: number }[];
  /** The functions with the most self time. */
  top: { fn: string; where: string; ms: number }[];
  /** Outside-in phase timings (medians of 5, whole processes, warm stat cache). */
  phases: { label: string; ms: number }[];
}

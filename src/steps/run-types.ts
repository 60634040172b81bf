/** The options and results of running a prefect.yaml section (shared by index.ts and runner.ts). */
import type { Logger, ProgressEvent, SyncSummary } from '../sync/types.js';

export interface StepEvent {
  phase: 'start' | 'end';
  /** 0-based position in the section's list (messages count from 1). */
  index: number;
  name: string;
  id?: string;
  durationMs?: number;
}

export interface RunStepsOptions {
  /** `push` runs the `build:` section first, as `prefect deploy` does. */
  section: 'build' | 'push' | 'pull';
  /** The prefect.yaml; default ./prefect.yaml (relative to cwd). */
  file?: string;
  /** Use this deployment's own section when it has a non-empty one (`--deployment NAME`). */
  deployment?: string;
  /** Local blocks/variables: YAML/JSON `{blocks: {slug: {name: data}}, variables: {name: value}}`. */
  blocksFile?: string;
  /** push: write the outputs there; pull: read them first and bake them into the pull steps. */
  outputsFile?: string;
  /** The folder the steps start in (default process.cwd()); set_working_directory moves it for later steps. */
  cwd?: string;
  /** Environment for `{{ $VAR }}`, PREFECT_API_URL/KEY, cloud defaults and child processes (default process.env). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log?: Logger;
  /** Forwarded to the storage steps' transfers. */
  onProgress?: (e: ProgressEvent) => void;
  /** Called when each step starts and ends. */
  onStep?: (e: StepEvent) => void;
  /** Transfers in flight for the storage steps. */
  concurrency?: number;
  /** Resolve and check every step and show what it would do; write nothing (steps without a dry run are not run). */
  dryRun?: boolean;
}

export interface StepSummary {
  /** 0-based position in the section's list (messages count from 1). */
  index: number;
  /** Fully qualified step name as written in the file. */
  name: string;
  id?: string;
  durationMs: number;
  outputs: Record<string, unknown>;
  /** What a storage step's sync did. */
  sync?: SyncSummary;
  /** Dry run: the resolved parameters, secrets masked. */
  params?: Record<string, unknown>;
  /** Dry run: what the step would do (or why it was not run). */
  would?: string[];
}

/** Sums over the storage steps (`manifest`: the id the last storage step left, null when none ran or the remote has none). */
export interface RunStepsResult extends Pick<SyncSummary, 'uploaded' | 'downloaded' | 'deleted' | 'unchanged' | 'updated' | 'bytes' | 'manifest' | 'durationMs'> {
  steps: StepSummary[];
  /** All outputs as later steps saw them: merged flat, plus each step's under its id. */
  outputs: Record<string, unknown>;
  /** pull: the absolute folder the flow would run in (from the `directory` output), if any. */
  directory?: string;
}

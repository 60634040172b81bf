/** Types shared by the step runner and the built-in steps. */
import type { Logger, ProgressEvent, SyncSummary } from '../sync/types.js';

export type StepOutputs = Record<string, unknown>;

/** What a running step can see and change. */
export interface StepContext {
  /** The folder steps work in; `set_working_directory` changes it for the steps after it. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  concurrency?: number;
  /** "prefect.yaml line 12: pull step 2 'git_clone'": for messages. */
  label: string;
}

export interface StepResult {
  outputs: StepOutputs;
  /** Set by the storage steps: what the sync engine did (or, in a dry run, would do). */
  sync?: SyncSummary;
  /** In a dry run: what the step would do, in a few lines. */
  would?: string[];
}

export type ParamKind = 'string' | 'boolean' | 'mapping' | 'string-list' | 'any';

export interface ParamSpec {
  kind: ParamKind;
  required?: boolean;
  /** With `required`: "" is an acceptable value (a folder may be the bucket root). */
  allowEmpty?: boolean;
}

export interface StepDefinition {
  /** Canonical fully qualified name (what Prefect's docs and recipes write). */
  name: string;
  /** Other names that reach the same step (module aliases, old spellings). */
  aliases?: string[];
  params: Record<string, ParamSpec>;
  run(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult>;
  /**
   * `steps run --dry-run`: what `run` would do, writing nothing; its outputs are what `run` would
   * return, so later steps resolve. A step without it (git_clone, shell) is not run in a dry run.
   */
  dryRun?(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult>;
}

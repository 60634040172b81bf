/**
 * Run the `push:` or `pull:` section of a prefect.yaml, as Prefect's steps do (templating,
 * outputs, blocks and variables, the storage steps on the flowsync engine, git_clone, shell
 * steps). The library entry point under `flowsync steps run`.
 */
import type { RunStepsOptions, RunStepsResult } from './run-types.js';
import { runStepsImpl } from './runner.js';

export type { RunStepsOptions, RunStepsResult, StepEvent, StepSummary } from './run-types.js';

export function runSteps(o: RunStepsOptions): Promise<RunStepsResult> {
  return runStepsImpl(o);
}

export { BUILTIN_STEPS } from './registry.js';
export type { BlockSource } from './sources/types.js';

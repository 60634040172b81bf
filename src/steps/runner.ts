/**
 * Run one section of a prefect.yaml, as Prefect's `run_steps` does: steps in order, each one's
 * inputs templated against the outputs so far, its outputs stored under its `id` and merged
 * flat (later steps overwrite). A failing step stops the run with its name, index and line.
 *
 * Before anything runs, every step name is checked, so a typo in step 3 does not leave step 1's
 * upload behind. The working folder is a variable passed to the steps, never process.chdir.
 */
import path from 'node:path';
import { FlowsyncError, isFlowsyncError, throwIfAborted } from '../errors.js';
import { scrubSecrets } from '../secrets.js';
import type { Logger } from '../sync/types.js';
import { checkArgs } from './args.js';
import { readOutputsFile, writeOutputsFile } from './outputs-file.js';
import { describeStep, loadSection, type ParsedStep } from './parse.js';
import { findStep, unknownRequirements, unknownStepError } from './registry.js';
import { loadBlocksFile } from './sources/blocks-file.js';
import { createBlockLookup } from './sources/lookup.js';
import { prefectApiSource } from './sources/prefect-api.js';
import type { BlockSource } from './sources/types.js';
import { bakeOutputs, resolveStepInputs } from './templating.js';
import type { StepContext, StepDefinition } from './types.js';
import type { RunStepsOptions, RunStepsResult, StepSummary } from './run-types.js';
import { isPlainObject } from '../util/objects.js';

const quietLog: Logger = { info: () => {}, warn: () => {} };

/** A step's failure, re-worded to name the step; the code (and so the exit code) is kept. */
function stepError(err: unknown, label: string): FlowsyncError {
  if (isFlowsyncError(err, 'ABORTED')) return err;
  const message = scrubSecrets((err as Error | undefined)?.message ?? String(err));
  if (isFlowsyncError(err)) {
    return message.startsWith(label) ? err : new FlowsyncError(err.code, `${label} failed: ${message}`, { cause: err });
  }
  return new FlowsyncError('STEP_FAILED', `${label} failed: ${message}`, { cause: err });
}

async function sourcesFor(o: RunStepsOptions, cwd: string, env: NodeJS.ProcessEnv): Promise<BlockSource[]> {
  const sources: BlockSource[] = [];
  if (o.blocksFile) sources.push(await loadBlocksFile(path.resolve(cwd, o.blocksFile)));
  const api = env['PREFECT_API_URL'];
  if (api) sources.push(prefectApiSource({ url: api, ...(env['PREFECT_API_KEY'] ? { apiKey: env['PREFECT_API_KEY'] } : {}), ...(o.signal ? { signal: o.signal } : {}) }));
  return sources;
}

export async function runStepsImpl(o: RunStepsOptions): Promise<RunStepsResult> {
  const started = Date.now();
  const startCwd = path.resolve(o.cwd ?? process.cwd());
  const env = o.env ?? process.env;
  const log = o.log ?? quietLog;
  const shownFile = o.file ?? 'prefect.yaml';
  const parsed = await loadSection(path.resolve(startCwd, shownFile), o.section, o.deployment);
  const label = (s: ParsedStep): string => describeStep(shownFile, o.section, s);

  const plan: Array<{ step: ParsedStep; def: StepDefinition }> = parsed.steps.map((step) => {
    const def = findStep(step.name);
    if (!def) throw unknownStepError(step.name, label(step));
    const others = unknownRequirements(step.requires ?? []);
    if (others.length > 0) log.warn(`${label(step)}: requires ${others.join(', ')}, which flowsync does not use (its steps are built in); ignored.`);
    return { step, def };
  });
  if (plan.length === 0) {
    log.warn(`${shownFile} has no ${o.section} steps${o.deployment ? ` (top-level or in deployment "${o.deployment}")` : ''}: nothing to run.`);
  }

  const lookup = createBlockLookup(await sourcesFor(o, startCwd, env));
  if (o.section === 'pull' && o.outputsFile) {
    const baked = await readOutputsFile(path.resolve(startCwd, o.outputsFile));
    for (const p of plan) p.step.args = bakeOutputs(p.step.args, baked, env);
  }

  const ctx: StepContext = {
    cwd: startCwd,
    env,
    log,
    label: '',
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
  };
  const outputs: Record<string, unknown> = {};
  const steps: StepSummary[] = [];
  const totals = { uploaded: 0, downloaded: 0, deleted: 0, unchanged: 0, bytes: 0 };
  let manifest: string | null = null;

  for (const { step, def } of plan) {
    throwIfAborted(o.signal);
    const where = label(step);
    const shortName = step.name.split('.').pop() ?? step.name;
    const summaryBase = { index: step.index - 1, name: step.name, ...(step.id ? { id: step.id } : {}) };
    log.info(` > Running ${shortName} step...`);
    o.onStep?.({ phase: 'start', ...summaryBase });
    const t0 = Date.now();
    let result;
    try {
      const inputs = await resolveStepInputs(step.args, outputs, lookup, env);
      ctx.label = where;
      result = await def.run(checkArgs(def, inputs, where), ctx);
    } catch (err) {
      throw stepError(err, where);
    }
    const stepOutputs = isPlainObject(result.outputs) ? result.outputs : {};
    if (step.id) outputs[step.id] = stepOutputs;
    Object.assign(outputs, stepOutputs);
    const summary: StepSummary = { ...summaryBase, durationMs: Date.now() - t0, outputs: stepOutputs, ...(result.sync ? { sync: result.sync } : {}) };
    if (result.sync) {
      totals.uploaded += result.sync.uploaded;
      totals.downloaded += result.sync.downloaded;
      totals.deleted += result.sync.deleted;
      totals.unchanged += result.sync.unchanged;
      totals.bytes += result.sync.bytes;
      manifest = result.sync.manifest;
    }
    steps.push(summary);
    o.onStep?.({ phase: 'end', ...summaryBase, durationMs: summary.durationMs });
  }

  if (o.section === 'push' && o.outputsFile) await writeOutputsFile(path.resolve(startCwd, o.outputsFile), outputs);
  // Prefect changes into `directory` after the pull steps, relative to where the steps left it.
  const directory = o.section === 'pull' && typeof outputs['directory'] === 'string' && outputs['directory'] !== '' ? path.resolve(ctx.cwd, outputs['directory']) : undefined;
  return { steps, outputs, ...(directory ? { directory } : {}), ...totals, manifest, durationMs: Date.now() - started };
}

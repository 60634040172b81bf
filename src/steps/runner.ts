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
import { idsReadBy, maskParams } from './dry-run.js';
import { readOutputsFile, writeOutputsFile } from './outputs-file.js';
import { describeStep, loadSection, type ParsedStep, type Section } from './parse.js';
import { refuseUnresolvedRequired } from './placeholder-hints.js';
import { findStep, unknownRequirements, unknownStepError } from './registry.js';
import { loadBlocksFile } from './sources/blocks-file.js';
import { createBlockLookup } from './sources/lookup.js';
import { prefectApiSource } from './sources/prefect-api.js';
import type { BlockSource } from './sources/types.js';
import { bakeOutputs, resolveStepInputs } from './templating.js';
import type { StepContext, StepDefinition, StepResult } from './types.js';
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
  // `prefect deploy` runs build: then push: with one set of outputs ({{ build_image.image }} in a push step).
  const sections: Section[] = o.section === 'push' ? ['build', 'push'] : [o.section];
  const parsedSections = await Promise.all(sections.map((s) => loadSection(path.resolve(startCwd, shownFile), s, o.deployment)));
  const sectionOf = new Map<ParsedStep, Section>();
  for (const p of parsedSections) for (const step of p.steps) sectionOf.set(step, p.section);
  const label = (s: ParsedStep): string => describeStep(shownFile, sectionOf.get(s) ?? o.section, s);

  const plan: Array<{ step: ParsedStep; def: StepDefinition }> = parsedSections.flatMap((p) => p.steps).map((step) => {
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
  const totals = { uploaded: 0, downloaded: 0, deleted: 0, unchanged: 0, updated: 0, bytes: 0 };
  let manifest: string | null = null;

  const hints = { section: o.section, lookup, env, hasBlocksFile: Boolean(o.blocksFile), hasApi: Boolean(env['PREFECT_API_URL']), hasOutputsFile: Boolean(o.outputsFile) };
  const earlierIds = new Set<string>();
  /** Dry run: ids of steps that were not run, by their 1-based position (their outputs are unknown). */
  const notRun = new Map<string, number>();

  for (const { step, def } of plan) {
    throwIfAborted(o.signal);
    const where = label(step);
    const shortName = step.name.split('.').pop() ?? step.name;
    const summaryBase = { index: step.index - 1, name: step.name, ...(step.id ? { id: step.id } : {}) };
    log.info(` > ${o.dryRun ? 'Checking' : 'Running'} ${shortName} step...`);
    o.onStep?.({ phase: 'start', ...summaryBase });
    const t0 = Date.now();
    let result: StepResult;
    let params: Record<string, unknown> | undefined;
    try {
      const waitsFor = o.dryRun ? [...idsReadBy(step.args)].filter((id) => notRun.has(id)) : [];
      if (waitsFor.length > 0) {
        // Its inputs are outputs of a step the dry run did not run: show them as written.
        params = maskParams(step.args) as Record<string, unknown>;
        result = { outputs: {}, would: [`not run: it reads the outputs of step ${waitsFor.map((id) => notRun.get(id)).join(', ')}, which a dry run does not run`] };
      } else {
        const inputs = await resolveStepInputs(step.args, outputs, lookup, env);
        await refuseUnresolvedRequired(def, step.args, inputs, where, { ...hints, outputs, earlierIds, ...(step.id ? { stepId: step.id } : {}) });
        const args = checkArgs(def, inputs, where);
        ctx.label = where;
        if (!o.dryRun) result = await def.run(args, ctx);
        else {
          params = maskParams(args) as Record<string, unknown>;
          result = def.dryRun ? await def.dryRun(args, ctx) : { outputs: {}, would: ['not run in a dry run (it would clone, install or run commands)'] };
        }
      }
    } catch (err) {
      throw stepError(err, where);
    }
    if (o.dryRun && !def.dryRun && step.id) notRun.set(step.id, step.index);
    if (step.id) earlierIds.add(step.id);
    const stepOutputs = isPlainObject(result.outputs) ? result.outputs : {};
    if (step.id) outputs[step.id] = stepOutputs;
    Object.assign(outputs, stepOutputs);
    const summary: StepSummary = {
      ...summaryBase,
      durationMs: Date.now() - t0,
      outputs: stepOutputs,
      ...(result.sync ? { sync: result.sync } : {}),
      ...(params ? { params } : {}),
      ...(result.would ? { would: result.would } : {}),
    };
    if (result.sync) {
      totals.uploaded += result.sync.uploaded;
      totals.downloaded += result.sync.downloaded;
      totals.deleted += result.sync.deleted;
      totals.unchanged += result.sync.unchanged;
      totals.updated += result.sync.updated;
      totals.bytes += result.sync.bytes;
      manifest = result.sync.manifest;
    }
    steps.push(summary);
    o.onStep?.({ phase: 'end', ...summaryBase, durationMs: summary.durationMs });
  }

  if (o.section !== 'pull' && o.outputsFile && !o.dryRun) await writeOutputsFile(path.resolve(startCwd, o.outputsFile), outputs);
  // Prefect changes into `directory` after the pull steps, relative to where the steps left it.
  const directory = o.section === 'pull' && typeof outputs['directory'] === 'string' && outputs['directory'] !== '' ? path.resolve(ctx.cwd, outputs['directory']) : undefined;
  return { steps, outputs, ...(directory ? { directory } : {}), ...totals, manifest, durationMs: Date.now() - started };
}

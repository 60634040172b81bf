/**
 * The storage steps with Prefect's names and parameters, run on the flowsync engine: only
 * changed files move, objects sit exactly where Prefect's own steps put them
 * (`<folder>/<relative path>`), and deletes follow DESIGN §7 (push removes what its previous
 * manifest listed and the new one lacks; pull removes only files flowsync placed earlier).
 *
 * Push works on the steps' current folder and returns {bucket|container, folder}; pull writes
 * into it and returns {bucket|container, folder, directory}. Prefect's pull overwrites whatever
 * is in the way, so pull runs with `force` — every overwritten file is named in a warning.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { RemoteOptions } from '../../backends/open.js';
import { FlowsyncError } from '../../errors.js';
import { pull } from '../../sync/pull.js';
import { push } from '../../sync/push.js';
import type { Logger, SyncSummary } from '../../sync/types.js';
import type { ParamSpec, StepContext, StepDefinition, StepResult } from '../types.js';
import { s3OptionsFromPrefect } from './aws-credentials.js';
import { azureOptionsFromPrefect } from './azure-credentials.js';
import { gcsOptionsFromPrefect, tokenFetchFailure, type GcsStepOptions } from './gcp-credentials.js';

type Cloud = 's3' | 'azure' | 'gcs';

const SCHEME: Record<Cloud, string> = { s3: 's3', azure: 'az', gcs: 'gs' };

function prefixedLog(ctx: StepContext): Logger {
  return { info: (m) => ctx.log.info(m), warn: (m) => ctx.log.warn(`${ctx.label}: ${m}`) };
}

async function remoteOptionsFor(cloud: Cloud, args: Record<string, unknown>, ctx: StepContext): Promise<RemoteOptions> {
  switch (cloud) {
    case 's3':
      return { s3: { ...s3OptionsFromPrefect(args['credentials'], args['client_parameters'], ctx.env, ctx.log, ctx.label) } };
    case 'azure':
      return { azure: { ...(await azureOptionsFromPrefect(args['credentials'], ctx.env, ctx.label)) } };
    case 'gcs':
      return { gcs: { ...gcsOptionsFromPrefect(args['credentials'], args['project'], ctx.env, ctx.label) } };
  }
}

function remoteUrl(cloud: Cloud, bucket: string, folder: string, label: string): string {
  if (bucket.includes('/')) {
    throw new FlowsyncError('INVALID_INPUT', `${label}: "${bucket}" is not a bucket/container name (it contains "/"). Put the path inside it in "folder".`);
  }
  return `${SCHEME[cloud]}://${bucket}/${folder}`;
}

/** Prefect filters with the ignore file only when it exists; a missing one means "nothing ignored". */
async function ignoreFileFor(args: Record<string, unknown>, ctx: StepContext): Promise<string | undefined> {
  // Absent: the engine's default, <dir>/.prefectignore when it exists.
  if (!('ignore_file' in args)) return undefined;
  const given = args['ignore_file'];
  if (given === null || given === undefined || given === '') return '';
  const file = path.resolve(ctx.cwd, String(given));
  const found = await fsp.stat(file).then((s) => s.isFile(), () => false);
  if (!found) {
    ctx.log.warn(`${ctx.label}: ignore_file ${file} does not exist; nothing is ignored (as Prefect does). Fix the path if that is not intended.`);
    return '';
  }
  return file;
}

/** A GCS failure that was really the credentials' token fetch is said so (the emulator is not blamed). */
async function explained<T>(work: Promise<T>, cloud: Cloud, remoteOptions: RemoteOptions, label: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw (cloud === 'gcs' && tokenFetchFailure(err, remoteOptions.gcs as GcsStepOptions, label)) || err;
  }
}

const LISTED = 20;

/** "would push . -> s3://b/f: upload 3, delete 1, unchanged 10" and the first paths of each kind. */
function wouldLines(sync: SyncSummary & { changes?: { upload?: string[]; download?: string[]; delete: string[]; update?: string[] } }, what: string): string[] {
  const moved = sync.command === 'pull' ? `download ${sync.downloaded}` : `upload ${sync.uploaded}`;
  const updated = sync.updated > 0 ? `, update ${sync.updated} (mode or link only)` : '';
  const lines = [`would ${what}: ${moved} (${sync.bytes.toLocaleString('en-US')} bytes), delete ${sync.deleted}${updated}, unchanged ${sync.unchanged}`];
  const c = sync.changes;
  const list = (sign: string, paths: string[] | undefined) => {
    for (const p of (paths ?? []).slice(0, LISTED)) lines.push(`${sign} ${p}`);
    if ((paths?.length ?? 0) > LISTED) lines.push(`  ... and ${paths!.length - LISTED} more`);
  };
  list(sync.command === 'pull' ? '<' : '>', c?.upload ?? c?.download);
  list('-', c?.delete);
  list('~', c?.update);
  return lines;
}

function storageStep(cloud: Cloud, direction: 'push' | 'pull', names: string[], containerKey: 'bucket' | 'container'): StepDefinition {
  const params: Record<string, ParamSpec> = {
    [containerKey]: { kind: 'string', required: true },
    // '' is the bucket root, as in Prefect (allowed, with a warning); empty from a placeholder is refused.
    folder: { kind: 'string', required: true, allowEmpty: true },
    credentials: { kind: 'mapping', required: cloud === 'azure' },
  };
  if (cloud === 's3') params['client_parameters'] = { kind: 'mapping' };
  if (cloud === 'gcs') params['project'] = { kind: 'string' };
  if (direction === 'push') params['ignore_file'] = { kind: 'string' };
  // flowsync's own: materialise the version in its own folder and swap the step's folder (a link) to it.
  if (direction === 'pull') params['switch'] = { kind: 'boolean' };

  async function run(args: Record<string, unknown>, ctx: StepContext, dryRun = false): Promise<StepResult> {
    const bucket = args[containerKey] as string;
    // Present: checkArgs refuses a missing folder, and a placeholder that gave nothing is refused before that.
    const folder = args['folder'] as string;
    const remote = remoteUrl(cloud, bucket, folder, ctx.label);
    if (folder === '') {
      ctx.log.warn(
        `${ctx.label}: folder is '' — this step uses the root of ${containerKey} ${bucket} (as Prefect does)` +
          (direction === 'push' ? ', and its pushes delete there what their previous manifest listed and the tree no longer has.' : '.'),
      );
    }
    const remoteOptions = await remoteOptionsFor(cloud, args, ctx);
    const common = {
      remote,
      remoteOptions,
      log: prefixedLog(ctx),
      dryRun,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
    };
    if (direction === 'push') {
      const ignoreFile = await ignoreFileFor(args, ctx);
      const sync = await explained(push({ ...common, dir: ctx.cwd, ...(ignoreFile !== undefined ? { ignoreFile } : {}) }), cloud, remoteOptions, ctx.label);
      // `version` (the manifest id), as every push step gives it (DESIGN §7).
      return { outputs: { [containerKey]: bucket, folder, version: sync.manifest }, sync, ...(dryRun ? { would: wouldLines(sync, `push ${ctx.cwd} -> ${remote}`) } : {}) };
    }
    // The engine warns (through the step's logger) for every file it overwrote; they are listed in sync.conflicts too.
    // Hits come from the machine's content cache (FLOWSYNC_CACHE_DIR); with `switch` the flow runs
    // in the version folder itself, which its working directory then holds (DESIGN §12).
    const switched = args['switch'] === true;
    const sync = await explained(pull({ ...common, dir: ctx.cwd, force: !switched, switch: switched }), cloud, remoteOptions, ctx.label);
    const directory = switched && sync.directory ? sync.directory : ctx.cwd;
    return { outputs: { [containerKey]: bucket, folder, directory }, sync, ...(dryRun ? { would: wouldLines(sync, `pull ${remote} -> ${ctx.cwd}`) } : {}) };
  }

  const [name, ...aliases] = names;
  return { name: name!, aliases, params, run: (args, ctx) => run(args, ctx), dryRun: (args, ctx) => run(args, ctx, true) };
}

export const storageSteps: StepDefinition[] = [
  storageStep('s3', 'push', ['prefect_aws.deployments.steps.push_to_s3'], 'bucket'),
  storageStep('s3', 'pull', ['prefect_aws.deployments.steps.pull_from_s3'], 'bucket'),
  storageStep('azure', 'push', ['prefect_azure.deployments.steps.push_to_azure_blob_storage'], 'container'),
  storageStep('azure', 'pull', ['prefect_azure.deployments.steps.pull_from_azure_blob_storage'], 'container'),
  // Old recipes wrote the module in the singular (prefect#10441); both reach the same step.
  storageStep('gcs', 'push', ['prefect_gcp.deployments.steps.push_to_gcs', 'prefect_gcp.deployment.steps.push_to_gcs'], 'bucket'),
  storageStep('gcs', 'pull', ['prefect_gcp.deployments.steps.pull_from_gcs', 'prefect_gcp.deployment.steps.pull_from_gcs'], 'bucket'),
];

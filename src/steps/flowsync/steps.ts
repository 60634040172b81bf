/**
 * flowsync's own prefect.yaml steps (DESIGN §7): `flowsync.push` and `flowsync.pull` take a
 * `remote` URL (s3://, az://, gs://, file:// or a path) and the CLI's options — `layout` and
 * `message` for push; `version`, `directory`, `switch`, `keep` and `cache` for pull — so a prefect.yaml gets the whole engine, the packed
 * layout included. Credentials: an optional `credentials` mapping of the cloud's Prefect block
 * (as the storage steps take it), else the steps' environment.
 *
 * Every push step outputs `version` (the manifest id), so a pull step can pin
 * `version: "{{ push_code.version }}"`: `prefect deploy` bakes push outputs into the stored pull
 * steps, and the worker then pulls exactly the version that was deployed.
 */
import path from 'node:path';
import { parseRemote, type RemoteOptions } from '../../backends/open.js';
import { FlowsyncError } from '../../errors.js';
import { pull } from '../../sync/pull.js';
import { push } from '../../sync/push.js';
import type { Logger } from '../../sync/types.js';
import { s3OptionsFromPrefect } from '../storage/aws-credentials.js';
import { azureOptionsFromPrefect } from '../storage/azure-credentials.js';
import { gcsOptionsFromPrefect } from '../storage/gcp-credentials.js';
import type { ParamSpec, StepContext, StepDefinition, StepResult } from '../types.js';

const logFor = (ctx: StepContext): Logger => ({ info: (m) => ctx.log.info(m), warn: (m) => ctx.log.warn(`${ctx.label}: ${m}`) });

async function remoteOptions(remote: string, args: Record<string, unknown>, ctx: StepContext): Promise<RemoteOptions> {
  const credentials = args['credentials'];
  const endpoint = typeof args['endpoint'] === 'string' && args['endpoint'] !== '' ? { endpoint: args['endpoint'] } : {};
  switch (parseRemote(remote).scheme) {
    case 's3':
      return { ...endpoint, s3: { ...s3OptionsFromPrefect(credentials, undefined, ctx.env, ctx.log, ctx.label) } };
    case 'az':
      if (credentials === undefined || credentials === null) {
        const cs = ctx.env['AZURE_STORAGE_CONNECTION_STRING'];
        return { ...endpoint, azure: cs ? { connectionString: cs, env: ctx.env } : { env: ctx.env } };
      }
      return { ...endpoint, azure: { ...(await azureOptionsFromPrefect(credentials, ctx.env, ctx.label)) } };
    case 'gs':
      return { ...endpoint, gcs: { ...gcsOptionsFromPrefect(credentials, args['project'], ctx.env, ctx.label) } };
    case 'file':
      return {};
  }
}

function remoteOf(args: Record<string, unknown>, ctx: StepContext): string {
  const remote = args['remote'] as string;
  // A relative local store is relative to the steps' folder, like every other path in prefect.yaml.
  return parseRemote(remote).scheme === 'file' && !remote.startsWith('file://') ? path.resolve(ctx.cwd, remote) : remote;
}

/** What push and pull take alike from a step: the remote, its options, logging, abort, progress, concurrency. */
async function engineOptions(remote: string, args: Record<string, unknown>, ctx: StepContext) {
  return {
    remote,
    remoteOptions: await remoteOptions(remote, args, ctx),
    log: logFor(ctx),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
  };
}

const common: Record<string, ParamSpec> = {
  remote: { kind: 'string', required: true },
  credentials: { kind: 'mapping' },
  endpoint: { kind: 'string' },
  project: { kind: 'string' },
  delete: { kind: 'boolean' },
};

export const flowsyncPushStep: StepDefinition = {
  name: 'flowsync.push',
  params: { ...common, layout: { kind: 'string' }, message: { kind: 'string' }, ignore_file: { kind: 'string' }, follow_links: { kind: 'boolean' } },
  async run(args, ctx): Promise<StepResult> {
    const remote = remoteOf(args, ctx);
    const layout = args['layout'];
    if (layout !== undefined && layout !== null && layout !== 'mirror' && layout !== 'packed') {
      throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: layout must be "mirror" or "packed", got ${JSON.stringify(layout)}.`);
    }
    const sync = await push({
      dir: ctx.cwd,
      ...(await engineOptions(remote, args, ctx)),
      ...(layout ? { layout: layout as 'mirror' | 'packed' } : {}),
      ...(typeof args['message'] === 'string' ? { message: args['message'] } : {}),
      ...(typeof args['ignore_file'] === 'string' ? { ignoreFile: path.resolve(ctx.cwd, args['ignore_file']) } : {}),
      ...(args['delete'] === false ? { delete: false } : {}),
      ...(args['follow_links'] === true ? { followLinks: true } : {}),
    });
    return { outputs: { remote: args['remote'], version: sync.manifest }, sync };
  },
};

export const flowsyncPullStep: StepDefinition = {
  name: 'flowsync.pull',
  params: {
    ...common,
    version: { kind: 'string' },
    force: { kind: 'boolean' },
    directory: { kind: 'string' },
    switch: { kind: 'boolean' },
    keep: { kind: 'string' },
    cache: { kind: 'boolean' },
  },
  async run(args, ctx): Promise<StepResult> {
    const remote = remoteOf(args, ctx);
    const version = typeof args['version'] === 'string' && args['version'] !== '' ? args['version'] : undefined;
    const dir = typeof args['directory'] === 'string' && args['directory'] !== '' ? path.resolve(ctx.cwd, args['directory']) : ctx.cwd;
    const keep = args['keep'] === undefined || args['keep'] === null ? undefined : Number(args['keep']);
    if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) {
      throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: keep must be a whole number of versions, at least 1, got ${JSON.stringify(args['keep'])}.`);
    }
    if (keep !== undefined && args['switch'] !== true) throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: keep counts the version folders of switch: true; add switch: true or drop keep.`);
    const sync = await pull({
      dir,
      ...(await engineOptions(remote, args, ctx)),
      ...(version ? { version } : {}),
      ...(args['force'] === true ? { force: true } : {}),
      ...(args['delete'] === false ? { delete: false } : {}),
      ...(args['switch'] === true ? { switch: true } : {}),
      ...(keep !== undefined ? { keep } : {}),
      ...(args['cache'] === false ? { cacheDir: false as const } : {}),
    });
    // With switch, the version folder the link now names: a flow run started there keeps its files.
    return { outputs: { remote: args['remote'], version: sync.manifest, directory: sync.directory ?? dir }, sync };
  },
};

export const flowsyncSteps: StepDefinition[] = [flowsyncPushStep, flowsyncPullStep];

/**
 * `prefect_docker.deployments.steps.build_docker_image` and `push_docker_image`, without a
 * Docker daemon. Build: the Dockerfile subset (or Prefect's `dockerfile: auto`) becomes an
 * image in the local OCI layout in flowsync's cache folder; push sends it from there, so the
 * two steps may run in separate commands. Outputs are Prefect's (`image_id` = the config
 * digest, as Docker reports it). A Dockerfile flowsync cannot build (RUN, …) goes to a
 * container engine on PATH (docker, podman, buildah), or is refused naming the line.
 * Both steps memoise their result in the process, as Prefect's do (`ignore_cache` skips it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FlowsyncError } from '../../errors.js';
import { defaultCacheDir } from '../../util/cache-dir.js';
import { buildDockerfile } from '../../image/dockerfile/build.js';
import { engineBuild, enginePush, findEngine } from '../../image/engine.js';
import { clientOptions, parsePlatform } from '../../image/index.js';
import { defaultLayoutDir, ImageLayout } from '../../image/layout.js';
import { pushImage } from '../../image/push.js';
import { formatRef, parseImageRef } from '../../image/reference.js';
import { RegistryClient } from '../../image/registry/client.js';
import { closeAgents } from '../../image/registry/http.js';
import type { StepContext, StepDefinition, StepResult } from '../types.js';

const memo = new Map<string, StepResult>();

function cacheDirOf(ctx: StepContext): string {
  return ctx.env.FLOWSYNC_CACHE_DIR || defaultCacheDir();
}

/** Prefect's default tag: the current UTC time, slugified (2026-12-01t20-55-01-123000-00-00). */
function defaultTag(): string {
  return new Date().toISOString().replace('Z', '000+00:00').toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

function stringMap(v: unknown, key: string, label: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new FlowsyncError('INVALID_INPUT', `${label}: ${key} must be a mapping of names to values.`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
}

/** Prefect's `dockerfile: auto`, on the base the user names (no network to guess Prefect's own image). */
function autoDockerfile(context: string, base: string): string {
  const folder = path.basename(context);
  const lines = [`FROM ${base}`];
  if (fs.existsSync(path.join(context, 'requirements.txt'))) {
    lines.push(`COPY requirements.txt /opt/prefect/${folder}/requirements.txt`, `RUN python -m pip install -r /opt/prefect/${folder}/requirements.txt`);
  }
  lines.push(`COPY . /opt/prefect/${folder}/`, `WORKDIR /opt/prefect/${folder}/`);
  return lines.join('\n') + '\n';
}

function memoised(name: string, args: Record<string, unknown>, ctx: StepContext, run: () => Promise<StepResult>): Promise<StepResult> {
  const { ignore_cache: ignore, ...rest } = args;
  const key = JSON.stringify([name, ctx.cwd, rest]);
  const hit = memo.get(key);
  if (hit && !ignore) return Promise.resolve(hit);
  return run().then((r) => {
    memo.set(key, r);
    return r;
  });
}

export const buildDockerImageStep: StepDefinition = {
  name: 'prefect_docker.deployments.steps.build_docker_image',
  aliases: ['prefect_docker.projects.steps.build_docker_image'],
  params: {
    image_name: { kind: 'string', required: true },
    dockerfile: { kind: 'string' },
    tag: { kind: 'string' },
    additional_tags: { kind: 'string-list' },
    ignore_cache: { kind: 'boolean' },
    // docker-py build kwargs flowsync implements (others are refused as unexpected arguments):
    path: { kind: 'string' },
    platform: { kind: 'string' },
    buildargs: { kind: 'mapping' },
    labels: { kind: 'mapping' },
    pull: { kind: 'boolean' },
    nocache: { kind: 'boolean' },
    // flowsync's own: the base of `dockerfile: auto`, and plain HTTP to a registry off loopback.
    base_image: { kind: 'string' },
    insecure: { kind: 'boolean' },
  },
  run: (args, ctx) => memoised('build', args, ctx, () => build(args, ctx)),
};

async function build(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult> {
  const imageName = String(args.image_name);
  const tag = typeof args.tag === 'string' && args.tag !== '' ? args.tag : defaultTag();
  const additional = (args.additional_tags as string[] | undefined) ?? [];
  const context = path.resolve(ctx.cwd, typeof args.path === 'string' ? args.path : '.');
  const dockerfileArg = typeof args.dockerfile === 'string' ? args.dockerfile : 'Dockerfile';
  const platform = typeof args.platform === 'string' ? args.platform : undefined;
  const buildArgs = stringMap(args.buildargs, 'buildargs', ctx.label);
  const labels = stringMap(args.labels, 'labels', ctx.label);
  let text: string;
  let file: string;
  if (dockerfileArg === 'auto') {
    if (fs.existsSync(path.join(context, 'Dockerfile'))) {
      throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: dockerfile: auto, but ${path.join(context, 'Dockerfile')} exists (Prefect refuses to overwrite it). Use dockerfile: Dockerfile, or remove it.`);
    }
    const base = (typeof args.base_image === 'string' && args.base_image) || ctx.env.FLOWSYNC_BASE_IMAGE;
    if (!base) {
      throw new FlowsyncError('INVALID_INPUT', `${ctx.label}: dockerfile: auto needs the image to build on: give base_image: <image> or set FLOWSYNC_BASE_IMAGE (Prefect picks its own image for the running Prefect and Python versions; flowsync does not guess it).`);
    }
    text = autoDockerfile(context, base);
    file = 'the auto Dockerfile';
  } else {
    file = dockerfileArg;
    try {
      text = fs.readFileSync(path.resolve(context, dockerfileArg), 'utf8');
    } catch (err) {
      throw new FlowsyncError('NOT_FOUND', `${ctx.label}: cannot read ${path.resolve(context, dockerfileArg)} (${(err as NodeJS.ErrnoException).code}). Point dockerfile: at it, or use dockerfile: auto.`, { cause: err });
    }
  }
  const target = parseImageRef(`${imageName}:${tag}`, 'image_name');
  const name = formatRef(target, tag);
  const layout = await ImageLayout.open(defaultLayoutDir(cacheDirOf(ctx)));
  const clients = new Map<string, RegistryClient>();
  const opts = clientOptions({ env: ctx.env, log: ctx.log, ...(args.insecure ? { insecure: true } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const clientFor = (registry: string) => clients.get(registry) ?? clients.set(registry, new RegistryClient(registry, opts)).get(registry)!;
  let imageId: string;
  try {
    const result = await buildDockerfile({
      context,
      dockerfile: { text, file },
      layout,
      name,
      cacheDir: cacheDirOf(ctx),
      buildArgs,
      labels,
      clientFor,
      env: ctx.env,
      log: ctx.log,
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if ('built' in result) {
      imageId = result.built.configDigest;
      for (const t of additional) await layout.setRef(formatRef(target, t), { mediaType: result.built.mediaType, digest: result.built.digest, size: result.built.size }, (await layout.getRef(name))?.annotations ?? {});
      ctx.log.info(`built ${name} (${result.built.digest}) in ${layout.dir}`);
    } else {
      const { engine, notes } = findEngine(ctx.env);
      const where = `${file} line ${result.needsEngine.line}: ${JSON.stringify(result.needsEngine.text.slice(0, 80))}`;
      if (!engine) {
        throw new FlowsyncError(
          'STEP_FAILED',
          `${ctx.label}: ${where} — ${result.why}, and there is none on PATH (docker, podman or buildah${notes.length ? `; ${notes.join('; ')}` : ''}). Bake what it installs into the base image and build on that (FROM / base_image), or install podman or buildah.`,
        );
      }
      ctx.log.info(`${where}: ${result.why}; building with ${engine.name}`);
      const dockerfilePath = dockerfileArg === 'auto' ? writeTemp(context, text) : path.resolve(context, dockerfileArg);
      try {
        imageId = await engineBuild(engine, { context, dockerfile: dockerfilePath, image: name, buildArgs, labels, ...(platform ? { platform } : {}) }, { env: ctx.env, log: ctx.log, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      } finally {
        if (dockerfileArg === 'auto') fs.rmSync(dockerfilePath, { force: true });
      }
      await layout.writeRecord('engine-images', encodeURIComponent(name), { engine: engine.name, imageId });
    }
  } finally {
    closeAgents();
  }
  return { outputs: { image_name: imageName, tag, image: `${imageName}:${tag}`, image_id: imageId, additional_tags: additional } };
}

function writeTemp(context: string, text: string): string {
  const file = path.join(context, `.flowsync-Dockerfile-${process.pid}`);
  fs.writeFileSync(file, text);
  return file;
}

export const pushDockerImageStep: StepDefinition = {
  name: 'prefect_docker.deployments.steps.push_docker_image',
  aliases: ['prefect_docker.projects.steps.push_docker_image'],
  params: {
    image_name: { kind: 'string', required: true },
    tag: { kind: 'string' },
    credentials: { kind: 'mapping' },
    additional_tags: { kind: 'string-list' },
    ignore_cache: { kind: 'boolean' },
    insecure: { kind: 'boolean' },
  },
  run: (args, ctx) => memoised('push', args, ctx, () => pushStep(args, ctx)),
};

async function pushStep(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult> {
  const imageName = String(args.image_name);
  const tag = typeof args.tag === 'string' && args.tag !== '' ? args.tag : 'latest';
  const additional = (args.additional_tags as string[] | undefined) ?? [];
  const target = parseImageRef(`${imageName}:${tag}`, 'image_name');
  const name = formatRef(target, tag);
  const creds = (args.credentials ?? {}) as { username?: unknown; password?: unknown; registry_url?: unknown };
  const registryUrl = typeof creds.registry_url === 'string' ? creds.registry_url.replace(/^https?:\/\//, '').replace(/\/.*$/, '') : '';
  const explicit = typeof creds.username === 'string' && typeof creds.password === 'string' && (!registryUrl || registryUrl === target.registry || (registryUrl.endsWith('docker.io') && target.registry.endsWith('docker.io')))
    ? { username: creds.username, password: creds.password }
    : undefined;
  const layout = await ImageLayout.open(defaultLayoutDir(cacheDirOf(ctx)));
  const outputs = { image_name: imageName, tag, image: `${imageName}:${tag}`, additional_tags: additional };
  if (!(await layout.getRef(name))) {
    const byEngine = await layout.readRecord<{ engine: 'docker' | 'podman' | 'buildah' }>('engine-images', encodeURIComponent(name));
    const { engine } = findEngine(ctx.env);
    if (byEngine && engine?.name === byEngine.engine) {
      await enginePush(engine, name, [tag, ...additional], { cwd: ctx.cwd, env: ctx.env, log: ctx.log, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      return { outputs };
    }
    throw new FlowsyncError('NOT_FOUND', `${ctx.label}: ${name} has not been built here (nothing in ${layout.dir}). Run the build_docker_image step first, with the same FLOWSYNC_CACHE_DIR.`);
  }
  const opts = clientOptions({ env: ctx.env, log: ctx.log, ...(args.insecure ? { insecure: true } : {}), ...(explicit ? { credentials: explicit } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const baseOpts = clientOptions({ env: ctx.env, log: ctx.log, ...(args.insecure ? { insecure: true } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
  try {
    const r = await pushImage({ layout, name, target, tags: [tag, ...additional], client: new RegistryClient(target.registry, opts), baseClientOptions: baseOpts, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) });
    ctx.log.info(`pushed ${r.images.join(', ')} (${r.digest}): ${r.uploaded} blob(s) uploaded, ${r.mounted} mounted, ${r.present} already there`);
  } finally {
    closeAgents();
  }
  return { outputs };
}

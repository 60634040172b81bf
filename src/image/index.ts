/**
 * The image library API: `imagePush` (folder → layers on a base → registry) and `imagePull`
 * (the code layers of a flowsync image → folder). See DESIGN §11.
 */
import { FlowsyncError } from '../errors.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import type { ProgressEvent } from '../util/progress.js';
import { parsePlatform, resolveBase } from './base.js';
import { buildCodeImage } from './code-image.js';
import { defaultLayoutDir, ImageLayout } from './layout.js';
import { pushImage, type PushImageResult } from './push.js';
import { formatRef, parseImageRef } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry/client.js';
import { closeAgents } from './registry/http.js';
import { quietLogger, type Logger } from './types.js';

export { imagePull, type ImagePullOptions, type ImagePullSummary } from './pull.js';
export { parsePlatform } from './base.js';

export interface ImagePushOptions {
  dir: string;
  /** Target: [registry/]repository[:tag]. */
  image: string;
  base: string;
  workdir?: string;
  /** More tags for the same manifest. */
  tags?: string[];
  platform?: string;
  insecure?: boolean;
  ignoreFile?: string;
  followLinks?: boolean;
  /** flowsync's cache folder (stat cache and the local image layout); false: no stat cache. */
  cacheDir?: string | false;
  /** 1: the whole tree in one layer (default: split, see split.ts). */
  maxLayers?: number;
  env?: NodeJS.ProcessEnv;
  credentials?: { username?: string; password?: string };
  signal?: AbortSignal;
  log?: Logger;
  onProgress?: (e: ProgressEvent) => void;
}

/** What `image push` did: the registry push's counts (its config digest named as Docker names it) and the build's. */
export interface ImagePushSummary extends Omit<PushImageResult, 'configDigest'> {
  command: 'image push';
  /** The config digest (Docker's image id). */
  imageId: string;
  /** The flowsync manifest id carried in the image's label. */
  manifest: string;
  layers: number;
  files: number;
  workdir: string;
  base: string;
  durationMs: number;
}

export function clientOptions(o: { insecure?: boolean; env?: NodeJS.ProcessEnv; signal?: AbortSignal; log?: Logger; credentials?: { username?: string; password?: string } }): RegistryClientOptions {
  return {
    ...(o.insecure ? { insecure: true } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
  };
}

export async function imagePush(o: ImagePushOptions): Promise<ImagePushSummary> {
  const started = Date.now();
  const target = parseImageRef(o.image, 'image');
  if (target.digest) throw new FlowsyncError('USAGE', `Push to a tag, not a digest: ${o.image}. The digest is what the push reports.`);
  const baseRef = parseImageRef(o.base, '--base');
  const tags = [...new Set([target.tag ?? 'latest', ...(o.tags ?? [])])];
  const cacheDir = o.cacheDir === false ? defaultCacheDir() : (o.cacheDir ?? defaultCacheDir());
  const layout = await ImageLayout.open(defaultLayoutDir(cacheDir));
  const log = o.log ?? quietLogger;
  // Credentials for the target are the explicit ones; the base (maybe another registry) uses its own sources.
  const targetOptions = clientOptions({ ...o, log });
  const { credentials: _targetOnly, ...withoutCredentials } = o;
  const baseOptions = clientOptions({ ...withoutCredentials, log });
  const baseClient = new RegistryClient(baseRef.registry, baseRef.registry === target.registry ? targetOptions : baseOptions);
  const targetClient = baseRef.registry === target.registry ? baseClient : new RegistryClient(target.registry, targetOptions);
  try {
    const base = await resolveBase(baseClient, baseRef, o.platform ? parsePlatform(o.platform) : undefined);
    const built = await buildCodeImage({
      dir: o.dir,
      base,
      layout,
      name: formatRef(target, tags[0]),
      cacheDir: o.cacheDir === false ? false : cacheDir,
      log,
      ...(o.workdir ? { workdir: o.workdir } : {}),
      ...(o.ignoreFile !== undefined ? { ignoreFile: o.ignoreFile } : {}),
      ...(o.followLinks ? { followLinks: true } : {}),
      ...(o.maxLayers ? { maxLayers: o.maxLayers } : {}),
      ...(o.env ? { env: o.env } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
    const pushed = await pushImage({
      layout,
      name: built.name,
      target,
      tags,
      client: targetClient,
      baseClientOptions: baseOptions,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
    const { configDigest, ...counts } = pushed;
    return {
      command: 'image push',
      ...counts,
      imageId: configDigest,
      requests: pushed.requests + (targetClient === baseClient ? 0 : baseClient.stats.requests),
      manifest: built.manifestId,
      layers: built.newLayers,
      files: built.files,
      workdir: built.workdir,
      base: built.base,
      durationMs: Date.now() - started,
    };
  } finally {
    closeAgents();
  }
}

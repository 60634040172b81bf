/**
 * The base image: its manifest (a multi-platform index resolved to one platform) and config,
 * read from its registry. Its layers are never downloaded here.
 */
import { FlowsyncError } from '../errors.js';
import { formatRef, refTarget, type ImageRef } from './reference.js';
import type { RegistryClient } from './registry/client.js';
import { MAX_CONFIG_BYTES, MEDIA, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from './types.js';

export interface ResolvedBase {
  ref: ImageRef;
  /** The single-platform manifest's digest (what the build pins). */
  digest: string;
  mediaType: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...extra] = text.split('/');
  if (!os || !architecture || extra.length > 0) {
    throw new FlowsyncError('INVALID_INPUT', `--platform ${JSON.stringify(text)} is not os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8.`);
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function showPlatform(p: Platform | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown';
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new FlowsyncError('INVALID_INPUT', `${what} is not valid JSON; it is not an image.`, { cause: err });
  }
}

export async function resolveBase(client: RegistryClient, ref: ImageRef, platform?: Platform): Promise<ResolvedBase> {
  const shown = formatRef(ref, refTarget(ref));
  let fetched = await client.getManifest(ref.repository, refTarget(ref), `the base image ${shown}`);
  let doc = parseJson<ImageManifest & ImageIndex>(fetched.bytes, `The manifest of ${shown}`);
  let mediaType = fetched.mediaType || doc.mediaType || '';
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || (Array.isArray(doc.manifests) && !doc.config)) {
    const chosen = choosePlatform(doc.manifests ?? [], platform, shown);
    fetched = await client.getManifest(ref.repository, chosen, `the base image ${shown} (${showPlatform(platform)})`);
    doc = parseJson<ImageManifest & ImageIndex>(fetched.bytes, `The manifest of ${shown}@${chosen}`);
    mediaType = fetched.mediaType || doc.mediaType || MEDIA.ociManifest;
  }
  if (mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest) {
    throw new FlowsyncError('UNSUPPORTED', `The base image ${shown} has a manifest of type ${JSON.stringify(mediaType)}; flowsync builds on OCI and Docker v2 (schema 2) manifests. Re-push the base with a current tool (skopeo copy).`);
  }
  if (!doc.config?.digest || !Array.isArray(doc.layers)) throw new FlowsyncError('INVALID_INPUT', `The manifest of ${shown} has no config or layers; it is not an image.`);
  const configBytes = await client.readBlob(ref.repository, doc.config.digest, MAX_CONFIG_BYTES);
  const config = parseJson<ImageConfig>(configBytes, `The config of ${shown}`);
  if (!config.rootfs || !Array.isArray(config.rootfs.diff_ids) || config.rootfs.diff_ids.length !== doc.layers.length) {
    throw new FlowsyncError('INVALID_INPUT', `The config of ${shown} does not list one diff_id per layer; it is not an image flowsync can build on.`);
  }
  if (platform && config.architecture && (config.architecture !== platform.architecture || (config.os && config.os !== platform.os))) {
    throw new FlowsyncError('INVALID_INPUT', `The base image ${shown} is ${showPlatform({ os: config.os ?? '?', architecture: config.architecture })}, not ${showPlatform(platform)}. Pick a base built for that platform.`);
  }
  return { ref, digest: fetched.digest, mediaType, manifest: doc, config };
}

/** The entry of an index for the platform asked for; without one, the only platform or linux/amd64. */
function choosePlatform(entries: ImageIndex['manifests'], wanted: Platform | undefined, shown: string): string {
  // Attestation manifests (buildx) are listed with platform unknown/unknown.
  const real = entries.filter((d) => d.platform && d.platform.os !== 'unknown');
  const list = real.map((d) => showPlatform(d.platform)).join(', ') || 'none';
  const matches = (d: (typeof real)[number], p: Platform) =>
    d.platform!.os === p.os && d.platform!.architecture === p.architecture && (!p.variant || d.platform!.variant === p.variant);
  if (wanted) {
    const hit = real.find((d) => matches(d, wanted));
    if (!hit) throw new FlowsyncError('NOT_FOUND', `The base image ${shown} has no ${showPlatform(wanted)} image (it has: ${list}). Pass one of those with --platform.`);
    return hit.digest;
  }
  if (real.length === 1) return real[0]!.digest;
  const amd64 = real.find((d) => matches(d, { os: 'linux', architecture: 'amd64' }));
  if (amd64) return amd64.digest;
  throw new FlowsyncError('INVALID_INPUT', `The base image ${shown} is multi-platform (${list}) without linux/amd64. Choose one with --platform.`);
}

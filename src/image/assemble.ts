/**
 * An image = the base's manifest and config + new layers + config edits, written to the local
 * layout: config blob, then manifest blob (media types of the base's family), then the name.
 * JSON is written with the base's key order and no whitespace, so the same inputs give the
 * same digests.
 */
import { BASE_ANNOTATION, type ImageLayout } from './layout.js';
import type { ResolvedBase } from './base.js';
import { formatRef } from './reference.js';
import { configMediaType, familyOf, layerMediaType, type BuiltLayer, type Descriptor, type ImageConfig, type ImageManifest } from './types.js';

export interface BuiltImage {
  /** The layout name: the target image with its tag. */
  name: string;
  /** Manifest digest: what `docker pull …@digest` names. */
  digest: string;
  /** Config digest: Docker's image id. */
  configDigest: string;
  mediaType: string;
  size: number;
  /** The base, pinned by digest. */
  base: string;
  newLayers: number;
}

/** A deep copy of the base's config, ready to edit; `created` set to the build's fixed time. */
export function startConfig(base: ResolvedBase, created: string): ImageConfig {
  const config = structuredClone(base.config);
  config.created = created;
  config.config = { ...(config.config ?? {}) };
  config.history = [...(config.history ?? [])];
  config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids] };
  return config;
}

export function addLayerToConfig(config: ImageConfig, layer: BuiltLayer, createdBy: string, created: string): void {
  config.rootfs.diff_ids.push(layer.diffId);
  config.history!.push({ created, created_by: createdBy, comment: layer.comment });
}

export function addHistory(config: ImageConfig, createdBy: string, created: string): void {
  config.history!.push({ created, created_by: createdBy, empty_layer: true });
}

export async function writeImage(layout: ImageLayout, base: ResolvedBase, config: ImageConfig, layers: readonly BuiltLayer[], name: string): Promise<BuiltImage> {
  const family = familyOf(base.mediaType);
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await layout.writeBlob(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: base.mediaType,
    config: { mediaType: configMediaType(family), digest: configDigest, size: configBytes.length },
    layers: [...base.manifest.layers, ...layers.map((l): Descriptor => ({ mediaType: layerMediaType(family), digest: l.digest, size: l.size }))],
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await layout.writeBlob(bytes);
  const pinned = formatRef(base.ref, base.digest);
  // FROM scratch has no base to fetch layers from.
  await layout.setRef(name, { mediaType: base.mediaType, digest, size: bytes.length }, base.digest.startsWith('sha256:') ? { [BASE_ANNOTATION]: pinned } : {});
  return { name, digest, configDigest, mediaType: base.mediaType, size: bytes.length, base: pinned, newLayers: layers.length };
}

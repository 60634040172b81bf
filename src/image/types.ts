/** OCI / Docker image JSON shapes and media types flowsync reads and writes. */

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** What a manifest GET accepts: single-platform manifests and indexes of both families. */
export const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');

/** Registries cap manifests around 4 MiB; a bigger one is refused before it is sent or read whole. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** An image config is JSON too; a base whose config is larger than this is not an image. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  [key: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

/** A layer as built here: its compressed digest and size, and the digest of the tar inside (diff_id). */
export interface BuiltLayer {
  digest: string;
  size: number;
  diffId: string;
  /** For the config's history: what the layer holds. */
  comment: string;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export const quietLogger: Logger = { info: () => {}, warn: () => {} };

/** Labels flowsync puts on the images it builds, so `image pull` can find and verify its layers. */
export const LABELS = {
  manifest: 'io.flowsync.manifest',
  created: 'io.flowsync.created',
  layers: 'io.flowsync.layers',
  root: 'io.flowsync.root',
} as const;

export function familyOf(manifestMediaType: string): 'oci' | 'docker' {
  return manifestMediaType === MEDIA.dockerManifest || manifestMediaType === MEDIA.dockerList ? 'docker' : 'oci';
}

export function layerMediaType(family: 'oci' | 'docker'): string {
  return family === 'docker' ? MEDIA.dockerLayerGzip : MEDIA.ociLayerGzip;
}

export function configMediaType(family: 'oci' | 'docker'): string {
  return family === 'docker' ? MEDIA.dockerConfig : MEDIA.ociConfig;
}

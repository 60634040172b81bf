/**
 * Send an image from the local layout to a registry: every blob HEADed (in parallel), the
 * missing ones sent — ours from the layout, the base's mounted from its repository when it is
 * on the same registry, else streamed registry-to-registry — and the manifest PUT last, once
 * per tag. Base layers are never downloaded when the target already has them.
 */
import fs from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { FlowsyncError } from '../errors.js';
import { runPool } from '../util/pool.js';
import { Progress, type ProgressEvent } from '../util/progress.js';
import { BASE_ANNOTATION, type ImageLayout } from './layout.js';
import { formatRef, parseImageRef, type ImageRef } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry/client.js';
import type { Descriptor, ImageManifest } from './types.js';

export interface PushImageOptions {
  layout: ImageLayout;
  /** The layout name of the built image. */
  name: string;
  target: ImageRef;
  /** Tags to put the manifest under (the target's own tag first). */
  tags: string[];
  client: RegistryClient;
  /** Options for a client of the base's registry, when it is another one. */
  baseClientOptions: RegistryClientOptions;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

export interface PushImageResult {
  /** registry/repository:tag of the first tag. */
  image: string;
  images: string[];
  digest: string;
  configDigest: string;
  /** Blobs whose bytes were sent. */
  uploaded: number;
  bytes: number;
  mounted: number;
  /** Blobs the registry already had. */
  present: number;
  requests: number;
  requestsByMethod: Record<string, number>;
}

const BLOB_CONCURRENCY = 6;

export async function pushImage(o: PushImageOptions): Promise<PushImageResult> {
  const desc = await o.layout.getRef(o.name);
  if (!desc) throw new FlowsyncError('NOT_FOUND', `No built image named ${o.name} in ${o.layout.dir}. Build it first (the build_docker_image step, or flowsync image push).`);
  const manifestBytes = await o.layout.readBlob(desc.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  const baseText = desc.annotations?.[BASE_ANNOTATION];
  const base = baseText ? parseImageRef(baseText, 'base') : null;
  const client = o.client;
  const repo = o.target.repository;
  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  const progress = new Progress(o.onProgress);
  progress.begin('upload', 0, blobs.length);
  let present = 0;
  const other: { client: RegistryClient | null } = { client: null };
  const sameRegistry = base !== null && base.registry === o.target.registry;

  await runPool(
    blobs,
    o.concurrency ?? BLOB_CONCURRENCY,
    async (blob) => {
      if (await client.hasBlob(repo, blob.digest)) {
        present++;
      } else if (o.layout.hasBlob(blob.digest, blob.size)) {
        const file = o.layout.blobPath(blob.digest);
        await client.uploadBlob(repo, blob.digest, blob.size, () => (blob.size <= 1024 * 1024 ? fs.readFileSync(file) : fs.createReadStream(file)));
      } else if (!base) {
        throw new FlowsyncError('NOT_FOUND', `Blob ${blob.digest} of ${o.name} is neither in ${o.layout.dir} nor known to come from a base image. Build the image again.`);
      } else if (sameRegistry && base.repository !== repo && (await client.mountBlob(repo, blob.digest, base.repository))) {
        // mounted: the registry linked the base's blob into this repository
      } else {
        if (sameRegistry && base.repository === repo) throw missingBase(blob, base);
        other.client ??= sameRegistry ? client : new RegistryClient(base.registry, o.baseClientOptions);
        const from = other.client;
        await client.uploadBlob(repo, blob.digest, blob.size, () => streamLater(from, base.repository, blob.digest));
      }
      progress.advance(blob.size, 1);
    },
    o.signal,
  );
  progress.end();
  progress.begin('manifest', 0, o.tags.length);
  for (const tag of o.tags) {
    await client.putManifest(repo, tag, manifestBytes, desc.mediaType);
    progress.advance(0, 1);
  }
  progress.end();
  const images = o.tags.map((t) => formatRef(o.target, t));
  return {
    image: images[0]!,
    images,
    digest: desc.digest,
    configDigest: manifest.config.digest,
    uploaded: client.stats.blobsUploaded,
    bytes: client.stats.bytesUploaded,
    mounted: client.stats.mounted,
    present,
    requests: client.stats.requests + (other.client && other.client !== client ? other.client.stats.requests : 0),
    requestsByMethod: client.stats.byMethod,
  };
}

function missingBase(blob: Descriptor, base: ImageRef): FlowsyncError {
  return new FlowsyncError('NOT_FOUND', `The registry no longer has the base layer ${blob.digest} of ${formatRef(base)}. Push the base image again, or build on another base.`);
}

/**
 * A registry-to-registry body: a PassThrough handed to the upload at once, fed when the GET
 * answers (uploadBlob wants a body factory that returns synchronously).
 */
function streamLater(from: RegistryClient, repo: string, digest: string): Readable {
  const out = new PassThrough();
  from.openBlob(repo, digest).then(
    (src) => {
      src.on('error', (err) => out.destroy(err));
      src.pipe(out);
    },
    (err: unknown) => out.destroy(err as Error),
  );
  return out;
}

/**
 * `image pull`: the code an image built by flowsync carries (its top layers, below the code
 * root its labels name) into a new or empty folder. Everything is extracted into a staging
 * folder beside the destination and checked — each layer's digest and diff_id, every entry
 * (extract.ts), and the rebuilt manifest against the id in the label — before one rename puts
 * it in place. Only the flowsync layers are downloaded, never the base's.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import { createManifest, manifestId, serializeManifest } from '../manifest/codec.js';
import { isLink } from '../manifest/types.js';
import { Progress, type ProgressEvent } from '../util/progress.js';
import { resolveBase } from './base.js';
import { createLinks, extractLayer, type ExtractState } from './extract.js';
import { formatRef, parseImageRef, refTarget } from './reference.js';
import { closeAgents } from './registry/http.js';
import { RegistryClient } from './registry/client.js';
import { LABELS, type Platform } from './types.js';

export interface ImagePullOptions {
  image: string;
  dir: string;
  platform?: Platform;
  insecure?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

export interface ImagePullSummary {
  command: 'image pull';
  image: string;
  digest: string;
  manifest: string;
  downloaded: number;
  bytes: number;
  layers: number;
  dir: string;
  durationMs: number;
}

export async function imagePull(o: ImagePullOptions): Promise<ImagePullSummary> {
  const started = Date.now();
  const ref = parseImageRef(o.image);
  const client = new RegistryClient(ref.registry, { ...(o.insecure ? { insecure: true } : {}), ...(o.env ? { env: o.env } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  try {
    const image = await resolveBase(client, ref, o.platform).catch((err: unknown) => {
      if (err instanceof FlowsyncError) throw new FlowsyncError(err.code, err.message.replace('the base image', 'the image'), { cause: err.cause ?? err });
      throw err;
    });
    const shown = formatRef(ref, refTarget(ref));
    const labels = image.config.config?.Labels ?? {};
    const id = labels[LABELS.manifest];
    const count = Number(labels[LABELS.layers]);
    const root = labels[LABELS.root];
    const created = labels[LABELS.created];
    if (!id || !root || !created || !Number.isInteger(count) || count < 1 || count > image.manifest.layers.length) {
      throw new FlowsyncError('INVALID_INPUT', `${shown} was not built by flowsync (it lacks valid ${LABELS.manifest} / ${LABELS.layers} / ${LABELS.root} labels), so there is no code layer to extract. Build it with flowsync image push.`);
    }
    const dest = path.resolve(o.dir);
    checkDestination(dest);
    const staging = `${dest}.flowsync-pull-${randomBytes(4).toString('hex')}`;
    fs.mkdirSync(staging, { recursive: true });
    const st: ExtractState = { staging, root: root.replace(/^\/+/, '').replace(/\/+$/, ''), entries: new Map(), bytes: 0 };
    const layers = image.manifest.layers.slice(-count);
    const diffIds = image.config.rootfs.diff_ids.slice(-count);
    const progress = new Progress(o.onProgress);
    progress.begin('download', layers.reduce((n, l) => n + l.size, 0), layers.length);
    try {
      for (const [i, layer] of layers.entries()) {
        const got = await extractLayer(await client.openBlob(ref.repository, layer.digest), layer.digest, st);
        if (got.digest !== layer.digest || got.diffId !== diffIds[i]) {
          throw new FlowsyncError('CHECKSUM_MISMATCH', `Layer ${layer.digest} of ${shown} arrived with digest ${got.digest} (diff_id ${got.diffId}, expected ${diffIds[i]}). Nothing was written to ${dest}; pull again.`);
        }
        progress.advance(layer.size, 1);
      }
      progress.end();
      createLinks(st);
      const rebuilt = manifestId(serializeManifest(createManifest([...st.entries.values()], new Date(created))));
      if (rebuilt !== id) {
        throw new FlowsyncError('CHECKSUM_MISMATCH', `The files in ${shown} do not add up to the flowsync manifest its label names (${id.slice(0, 16)}…, got ${rebuilt.slice(0, 16)}…). Nothing was written to ${dest}.`);
      }
      place(staging, dest);
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    const files = [...st.entries.values()].filter((e) => !isLink(e)).length;
    return { command: 'image pull', image: shown, digest: image.digest, manifest: id, downloaded: files, bytes: st.bytes, layers: layers.length, dir: dest, durationMs: Date.now() - started };
  } finally {
    closeAgents();
  }
}

function checkDestination(dest: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(err, 'read the folder', dest);
  }
  if (names.length > 0) throw new FlowsyncError('CONFLICT', `${dest} is not empty. image pull writes a whole tree into a new or empty folder; choose another folder or empty it.`);
}

function place(staging: string, dest: string): void {
  try {
    if (fs.existsSync(dest)) fs.rmdirSync(dest);
    fs.renameSync(staging, dest);
  } catch (err) {
    throw fsError(err, 'move the pulled files into', dest);
  }
}

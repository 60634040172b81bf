/**
 * `image push`'s build: a folder (ignore rules as for push) as deterministic layers at the
 * workdir, on a base image, written to the local layout. The config gets WorkingDir (default
 * /opt/prefect/<folder>, as Prefect's `dockerfile: auto`), a history entry per layer, the
 * diff_ids and labels carrying the flowsync manifest id, so `image pull` can verify the tree.
 */
import path from 'node:path';
import { FlowsyncError } from '../errors.js';
import { createManifest, manifestId, serializeManifest } from '../manifest/codec.js';
import { isLink, type ManifestEntry } from '../manifest/types.js';
import { runPool } from '../util/pool.js';
import { Progress, type ProgressEvent } from '../util/progress.js';
import { loadIgnoreRules } from '../walk/ignore-rules.js';
import { addLayerToConfig, startConfig, writeImage, type BuiltImage } from './assemble.js';
import type { ResolvedBase } from './base.js';
import { buildLayer, type LayerItem } from './layer.js';
import type { ImageLayout } from './layout.js';
import { scanForImage } from './scan.js';
import { splitIntoLayers } from './split.js';
import { LABELS, type BuiltLayer, type Logger } from './types.js';

const LAYER_CONCURRENCY = 3;

export interface CodeImageOptions {
  dir: string;
  base: ResolvedBase;
  layout: ImageLayout;
  /** The layout name to give the image (target image:tag). */
  name: string;
  workdir?: string;
  ignoreFile?: string;
  followLinks?: boolean;
  /** Stat cache folder, or false for none. */
  cacheDir: string | false;
  maxLayers?: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: Logger;
  onProgress?: (e: ProgressEvent) => void;
  /** Extra labels (prefect.yaml build kwargs). */
  labels?: Record<string, string>;
}

export interface CodeImage extends BuiltImage {
  manifestId: string;
  workdir: string;
  files: number;
}

/** Entry times in layers and the config: SOURCE_DATE_EPOCH (reproducible builds) or 0. */
export function buildEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,12}$/.test(raw)) throw new FlowsyncError('INVALID_INPUT', `SOURCE_DATE_EPOCH=${JSON.stringify(raw)} is not a whole number of seconds since 1970.`);
  return Number(raw);
}

export function checkWorkdir(workdir: string): string {
  const clean = path.posix.normalize(workdir).replace(/\/+$/, '');
  if (!workdir.startsWith('/') || clean === '' || clean === '/' || clean.split('/').includes('..') || /[\u0000-\u001f\\]/.test(workdir)) {
    throw new FlowsyncError('INVALID_INPUT', `--workdir ${JSON.stringify(workdir)} must be an absolute folder below / (e.g. /opt/prefect/etl).`);
  }
  return clean;
}

export function layerItems(entries: readonly ManifestEntry[], root: string, inImage: string): LayerItem[] {
  return entries.map((e): LayerItem =>
    isLink(e)
      ? { kind: 'link', path: `${inImage}/${e.path}`, target: e.link }
      : { kind: 'file', path: `${inImage}/${e.path}`, source: path.join(root, e.path), size: e.size, mode: e.mode, sha256: e.sha256 },
  );
}

export async function buildCodeImage(o: CodeImageOptions): Promise<CodeImage> {
  const progress = new Progress(o.onProgress);
  const ignore = await loadIgnoreRules(path.resolve(o.dir), o.ignoreFile);
  const scan = await scanForImage(o.dir, { ignore, cacheDir: o.cacheDir, log: o.log, progress, ...(o.followLinks ? { followLinks: true } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const workdir = checkWorkdir(o.workdir ?? `/opt/prefect/${path.basename(scan.root)}`);
  const epoch = buildEpoch(o.env);
  const created = new Date(epoch * 1000).toISOString();
  // The manifest carries the build's fixed time, so its id (the label) is the same for the same tree.
  const manifest = createManifest(scan.entries, new Date(epoch * 1000));
  const id = manifestId(serializeManifest(manifest));
  const groups = splitIntoLayers(manifest.files, o.maxLayers ? { maxLayers: o.maxLayers } : {});
  const total = manifest.files.reduce((n, e) => n + (isLink(e) ? 0 : e.size), 0);
  progress.begin('plan', total, groups.length);
  // Layers are built a few at a time: gzip runs on libuv's threads, so this uses every core.
  const layers: BuiltLayer[] = new Array(groups.length);
  await runPool(
    groups.map((g, i) => ({ g, i })),
    LAYER_CONCURRENCY,
    async ({ g, i }, signal) => {
      layers[i] = await buildLayer(o.layout, layerItems(g.entries, scan.root, workdir.slice(1)), { mtime: epoch, comment: g.label, onBytes: (n) => progress.advance(n), signal });
      progress.advance(0, 1);
    },
    o.signal,
  );
  progress.end();
  const config = startConfig(o.base, created);
  config.config!.WorkingDir = workdir;
  config.config!.Labels = {
    ...(config.config!.Labels ?? {}),
    ...o.labels,
    [LABELS.manifest]: id,
    [LABELS.created]: manifest.createdAt,
    [LABELS.layers]: String(layers.length),
    [LABELS.root]: workdir,
  };
  for (const l of layers) addLayerToConfig(config, l, `flowsync image push (${workdir})`, created);
  const image = await writeImage(o.layout, o.base, config, layers, o.name);
  return { ...image, manifestId: id, workdir, files: manifest.files.length };
}

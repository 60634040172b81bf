/**
 * Build a Dockerfile of FROM, COPY/ADD (local paths), WORKDIR, ENV, LABEL, USER, EXPOSE, ARG,
 * CMD and ENTRYPOINT without a daemon: the base's manifest and config from its registry, each
 * COPY as deterministic layers (context files after .dockerignore), config edits as Docker
 * makes them, all written to the local layout. Anything else (RUN, multi-stage, COPY --from,
 * --chown, ADD of a URL or an archive) is returned as the instruction a container engine must
 * build. A final `COPY . <dir>` (what `dockerfile: auto` writes) gets flowsync's labels, so
 * `image pull` can verify it.
 */
import path from 'node:path';
import { FlowsyncError } from '../../errors.js';
import { createManifest, manifestId, serializeManifest } from '../../manifest/codec.js';
import type { ManifestEntry } from '../../manifest/types.js';
import { addHistory, addLayerToConfig, startConfig, writeImage, type BuiltImage } from '../assemble.js';
import { resolveBase, type ResolvedBase } from '../base.js';
import { buildEpoch, layerItems } from '../code-image.js';
import { buildLayer } from '../layer.js';
import type { ImageLayout } from '../layout.js';
import { parseImageRef } from '../reference.js';
import type { RegistryClient } from '../registry/client.js';
import { scanForImage, type ImageScan } from '../scan.js';
import { splitIntoLayers } from '../split.js';
import { LABELS, MEDIA, type BuiltLayer, type Logger, type Platform } from '../types.js';
import { loadDockerignore } from './dockerignore.js';
import { execForm, keyValues, parseDockerfile, splitWords, substitute, type Instruction } from './parse.js';

export interface DockerfileBuildOptions {
  context: string;
  /** Dockerfile text and the name to show for it. */
  dockerfile: { text: string; file: string };
  layout: ImageLayout;
  name: string;
  cacheDir: string | false;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  platform?: Platform;
  clientFor: (registry: string) => RegistryClient;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: Logger;
}

export type DockerfileBuild = { built: BuiltImage } | { needsEngine: Instruction; why: string };

const DAEMONLESS = new Set(['FROM', 'COPY', 'ADD', 'WORKDIR', 'ENV', 'LABEL', 'USER', 'EXPOSE', 'ARG', 'CMD', 'ENTRYPOINT']);
const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$/i;

/** The first instruction flowsync cannot build itself, with why; null when all can be. */
export function needsEngine(instructions: Instruction[]): { needsEngine: Instruction; why: string } | null {
  let froms = 0;
  for (const ins of instructions) {
    if (!DAEMONLESS.has(ins.keyword)) return { needsEngine: ins, why: `${ins.keyword} needs a container engine` };
    if (ins.keyword === 'FROM' && ++froms > 1) return { needsEngine: ins, why: 'a multi-stage build needs a container engine' };
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
      const flags = ins.args.match(/^(?:--\S+\s+)*/)![0];
      if (/--from=/.test(flags)) return { needsEngine: ins, why: 'COPY --from needs a container engine' };
      if (/--(chown|chmod)=/.test(flags)) return { needsEngine: ins, why: 'flowsync copies files as root with their exec bit only (--chown/--chmod need a container engine)' };
      if (ins.keyword === 'ADD' && (/https?:\/\/|git@/.test(ins.args) || splitWords(ins.args.slice(flags.length)).slice(0, -1).some((s) => ARCHIVE.test(s)))) {
        return { needsEngine: ins, why: 'ADD of a URL or an archive needs a container engine (use COPY for local files)' };
      }
    }
  }
  return null;
}

export async function buildDockerfile(o: DockerfileBuildOptions): Promise<DockerfileBuild> {
  const { file } = o.dockerfile;
  const instructions = parseDockerfile(o.dockerfile.text, file);
  const engine = needsEngine(instructions);
  if (engine) return engine;
  const at = (ins: Instruction) => `${file} line ${ins.line} (${ins.text.slice(0, 60)})`;
  const buildArgs = new Map(Object.entries(o.buildArgs ?? {}));
  const used = new Set<string>();
  const vars = new Map<string, string>();
  const declareArg = (args: string) => {
    const [name, def] = args.split(/=(.*)/s, 2) as [string, string | undefined];
    used.add(name);
    const value = buildArgs.get(name) ?? (def !== undefined ? substitute(def, vars) : undefined);
    if (value !== undefined) vars.set(name, value.replace(/^"(.*)"$/s, '$1'));
  };
  const fromIndex = instructions.findIndex((i) => i.keyword === 'FROM');
  if (fromIndex < 0) throw new FlowsyncError('INVALID_INPUT', `${file} has no FROM line.`);
  for (const ins of instructions.slice(0, fromIndex)) {
    if (ins.keyword !== 'ARG') throw new FlowsyncError('INVALID_INPUT', `${at(ins)}: only ARG may come before FROM.`);
    declareArg(ins.args);
  }
  const fromIns = instructions[fromIndex]!;
  const fromWords = splitWords(substitute(fromIns.args, vars));
  let platform = o.platform;
  const flag = fromWords.find((w) => w.startsWith('--platform='));
  if (flag) platform = parsePlatformFlag(flag.slice('--platform='.length), at(fromIns));
  const baseText = fromWords.find((w) => !w.startsWith('--'));
  if (!baseText) throw new FlowsyncError('INVALID_INPUT', `${at(fromIns)}: FROM names no image.`);
  const base = baseText === 'scratch' ? scratchBase(platform) : await resolveBase(o.clientFor(parseImageRef(baseText, 'FROM').registry), parseImageRef(baseText, 'FROM'), platform);

  const epoch = buildEpoch(o.env);
  const created = new Date(epoch * 1000).toISOString();
  const config = startConfig(base, created);
  const c = config.config!;
  const env = new Map<string, string>((c.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  // Only ARGs declared again after FROM are visible in the stage, as in Docker.
  const stageVars = () => new Map([...vars.entries()].filter(([k]) => stageArgs.has(k)).concat([...env.entries()]));
  const stageArgs = new Set<string>();
  let workdir = c.WorkingDir || '/';
  let cmdSet = false;
  let scan: ImageScan | null = null;
  const layers: BuiltLayer[] = [];
  let lastCopyOfContext: { root: string; entries: ManifestEntry[]; layers: number } | null = null;
  const knownDirs = new Set<string>();

  for (const ins of instructions.slice(fromIndex + 1)) {
    const args = ['CMD', 'ENTRYPOINT'].includes(ins.keyword) ? ins.args : substitute(ins.args, stageVars());
    switch (ins.keyword) {
      case 'ARG':
        stageArgs.add(ins.args.split('=')[0]!);
        declareArg(ins.args);
        addHistory(config, ins.text, created);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(args, 'ENV')) env.set(k, v);
        c.Env = [...env.entries()].map(([k, v]) => `${k}=${v}`);
        addHistory(config, ins.text, created);
        break;
      case 'LABEL':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(keyValues(args, 'LABEL')) };
        addHistory(config, ins.text, created);
        break;
      case 'WORKDIR':
        workdir = path.posix.resolve(workdir, args);
        c.WorkingDir = workdir;
        addHistory(config, ins.text, created);
        break;
      case 'USER':
        c.User = args;
        addHistory(config, ins.text, created);
        break;
      case 'EXPOSE':
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of splitWords(args)) c.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        addHistory(config, ins.text, created);
        break;
      case 'CMD':
        c.Cmd = execForm(args) ?? ['/bin/sh', '-c', args];
        cmdSet = true;
        addHistory(config, ins.text, created);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = execForm(args) ?? ['/bin/sh', '-c', args];
        // Docker: an ENTRYPOINT resets a CMD inherited from the base.
        if (!cmdSet) c.Cmd = null;
        addHistory(config, ins.text, created);
        break;
      case 'COPY':
      case 'ADD': {
        scan ??= await scanForImage(o.context, { ignore: loadDockerignore(path.resolve(o.context)), cacheDir: o.cacheDir, log: o.log, ...(o.signal ? { signal: o.signal } : {}) });
        const copy = planCopy(args, workdir, scan.entries, at(ins), knownDirs);
        const groups = splitIntoLayers(copy.entries.map((e) => e.entry));
        const byPath = new Map(copy.entries.map((e) => [e.entry.path, e.to]));
        for (const g of groups) {
          const items = layerItems(g.entries, scan.root, '').map((item) => ({ ...item, path: byPath.get(item.path.slice(1))! }));
          const layer = await buildLayer(o.layout, items, { mtime: epoch, comment: g.label, ...(o.signal ? { signal: o.signal } : {}) });
          layers.push(layer);
          addLayerToConfig(config, layer, ins.text, created);
        }
        lastCopyOfContext = copy.wholeContext ? { root: copy.dest, entries: copy.entries.map((e) => e.entry), layers: groups.length } : null;
        break;
      }
      default:
        throw new FlowsyncError('INTERNAL', `${at(ins)}: ${ins.keyword} slipped past the check.`);
    }
  }
  for (const k of buildArgs.keys()) if (!used.has(k)) o.log.warn(`build arg ${k} is not declared by an ARG in ${file}; it was not used.`);
  c.Labels = { ...(c.Labels ?? {}), ...o.labels };
  if (lastCopyOfContext && layers.length > 0) {
    const manifest = createManifest(lastCopyOfContext.entries, new Date(epoch * 1000));
    Object.assign(c.Labels, {
      [LABELS.manifest]: manifestId(serializeManifest(manifest)),
      [LABELS.created]: manifest.createdAt,
      [LABELS.layers]: String(lastCopyOfContext.layers),
      [LABELS.root]: lastCopyOfContext.root,
    });
  }
  return { built: await writeImage(o.layout, base, config, layers, o.name) };
}

interface PlannedCopy {
  dest: string;
  wholeContext: boolean;
  /** Context entries and where each lands in the image (no leading slash). */
  entries: Array<{ entry: ManifestEntry; to: string }>;
}

function planCopy(args: string, workdir: string, entries: ManifestEntry[], where: string, knownDirs: Set<string>): PlannedCopy {
  const rest = args.replace(/^(?:--\S+\s+)*/, '');
  const words = execForm(rest) ?? splitWords(rest);
  if (words.length < 2) throw new FlowsyncError('INVALID_INPUT', `${where}: COPY needs a source and a destination.`);
  const destText = words[words.length - 1]!;
  const sources = words.slice(0, -1);
  const dest = path.posix.resolve(workdir, destText);
  // Docker copies a single file onto <dest> as that name, unless <dest> is a folder: written with a
  // trailing slash, `.`/`..`, the WORKDIR, or a folder an earlier COPY made.
  const destIsDir = destText.endsWith('/') || /(^|\/)\.\.?$/.test(destText) || sources.length > 1 || dest === workdir || knownDirs.has(dest);
  const out: PlannedCopy['entries'] = [];
  const under = (p: string) => `${dest === '/' ? '' : dest.slice(1) + '/'}${p}`;
  let wholeContext = false;
  for (const src of sources) {
    const clean = path.posix.normalize(src).replace(/^(\.\/)+|^\/+/, '').replace(/\/+$/, '');
    if (clean === '..' || clean.startsWith('../')) throw new FlowsyncError('INVALID_INPUT', `${where}: ${src} is outside the build context.`);
    if (clean === '.' || clean === '') {
      wholeContext = sources.length === 1;
      for (const e of entries) out.push({ entry: e, to: under(e.path) });
      continue;
    }
    if (/[*?[]/.test(clean)) {
      const re = new RegExp(`^${clean.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
      const hits = entries.filter((e) => re.test(e.path));
      if (hits.length === 0) throw notFound(src, where);
      for (const e of hits) {
        // A matched file lands as dest/<name>; a file inside a matched folder as dest/<path below it>.
        const inside = re.exec(e.path)![1];
        out.push({ entry: e, to: under(inside ? inside.slice(1) : path.posix.basename(e.path)) });
      }
      continue;
    }
    const exact = entries.find((e) => e.path === clean);
    if (exact) {
      out.push({ entry: exact, to: destIsDir ? under(path.posix.basename(clean)) : dest.slice(1) });
      continue;
    }
    const inside = entries.filter((e) => e.path.startsWith(clean + '/'));
    if (inside.length === 0) throw notFound(src, where);
    for (const e of inside) out.push({ entry: e, to: under(e.path.slice(clean.length + 1)) });
  }
  for (const e of out) for (let d = path.posix.dirname('/' + e.to); d !== '/'; d = path.posix.dirname(d)) knownDirs.add(d);
  return { dest, wholeContext, entries: out };
}

function notFound(src: string, where: string): FlowsyncError {
  return new FlowsyncError('NOT_FOUND', `${where}: ${src} is not in the build context (missing, or excluded by .dockerignore).`);
}

function parsePlatformFlag(text: string, where: string): Platform {
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) throw new FlowsyncError('INVALID_INPUT', `${where}: --platform=${text} is not os/arch.`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** `FROM scratch`: no layers, an empty config for the platform (linux/amd64 by default). */
function scratchBase(platform: Platform | undefined): ResolvedBase {
  return {
    ref: { registry: 'scratch', repository: 'scratch' },
    digest: 'scratch',
    mediaType: MEDIA.ociManifest,
    manifest: { schemaVersion: 2, config: { mediaType: MEDIA.ociConfig, digest: '', size: 0 }, layers: [] },
    config: { architecture: platform?.architecture ?? 'amd64', os: platform?.os ?? 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
  };
}

/**
 * Extract flowsync layers into a staging folder, refusing hostile entries the way a hostile
 * manifest is refused: absolute names, `..`, names outside the image's code root, hard links,
 * devices, fifos, whiteouts, links whose target leaves the tree or passes through another link.
 * Every byte is hashed on the way: the layer digest (gzip), the diff_id (tar) and each file's
 * sha256 (for the manifest the label names). Links are created last, after all are checked.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { FlowsyncError, fsError } from '../errors.js';
import { unsafeLinkReason, unsafePathReason } from '../manifest/paths.js';
import type { FileMode, ManifestEntry } from '../manifest/types.js';

export interface ExtractState {
  /** The staging folder: files land at <staging>/<path below the code root>. */
  staging: string;
  /** The code root inside the image, without leading slash ("opt/prefect/etl"). */
  root: string;
  entries: Map<string, ManifestEntry>;
  bytes: number;
}

export interface LayerDigests {
  digest: string;
  diffId: string;
}

function hostile(name: string, why: string, layer: string): FlowsyncError {
  return new FlowsyncError('UNSAFE_PATH', `The image layer ${layer} holds ${JSON.stringify(name)}, which ${why}. Nothing was extracted into the destination; the image was not built by flowsync or was tampered with.`);
}

/** The entry's path below the root, '' for the root itself, or null for a parent folder of the root. */
function belowRoot(name: string, root: string, isDir: boolean, layer: string): string | null {
  if (name.startsWith('/')) throw hostile(name, 'is an absolute path', layer);
  const clean = name.replace(/^\.\//, '').replace(/\/+$/, '');
  if (clean.split('/').includes('..')) throw hostile(name, 'climbs out with ..', layer);
  if (clean === root) return '';
  if (clean.startsWith(root + '/')) {
    const rel = clean.slice(root.length + 1);
    const reason = unsafePathReason(rel);
    if (reason) throw hostile(name, reason, layer);
    return rel;
  }
  if (isDir && (root + '/').startsWith(clean + '/')) return null;
  throw hostile(name, `lies outside the code folder /${root} the image's label names`, layer);
}

function tap(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

export async function extractLayer(body: Readable, layer: string, st: ExtractState): Promise<LayerDigests> {
  const gzHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const extract = tar.extract();
  const links = new Set([...st.entries.values()].filter((e) => 'link' in e).map((e) => e.path));
  extract.on('entry', (header, stream, next) => {
    handle(header, stream as unknown as Readable, layer, st, links).then(() => next(), (err: Error) => next(err));
  });
  await pipeline(body, tap(gzHash), zlib.createGunzip(), tap(tarHash), extract);
  return { digest: `sha256:${gzHash.digest('hex')}`, diffId: `sha256:${tarHash.digest('hex')}` };
}

async function handle(header: tar.Header, stream: Readable, layer: string, st: ExtractState, links: Set<string>): Promise<void> {
  const type = header.type;
  if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'contiguous-file') {
    stream.resume();
    throw hostile(header.name, `is a ${type ?? 'special'} entry (flowsync layers hold only files, folders and symbolic links)`, layer);
  }
  if (path.posix.basename(header.name).startsWith('.wh.')) {
    stream.resume();
    throw hostile(header.name, 'is a whiteout (flowsync layers never delete)', layer);
  }
  const rel = belowRoot(header.name, st.root, type === 'directory', layer);
  if (rel === null || rel === '') {
    stream.resume();
    return;
  }
  // Writing through a link created earlier could land anywhere it points.
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (links.has(parts.slice(0, i).join('/'))) {
      stream.resume();
      throw hostile(header.name, `passes through the link ${parts.slice(0, i).join('/')}`, layer);
    }
  }
  const out = path.join(st.staging, ...parts);
  try {
    if (type === 'directory') {
      stream.resume();
      fs.mkdirSync(out, { recursive: true });
      return;
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    if (type === 'symlink') {
      stream.resume();
      const target = header.linkname ?? '';
      if (target.startsWith('/')) throw hostile(header.name, `is a link to the absolute path ${target}`, layer);
      links.add(rel);
      st.entries.set(rel, { path: rel, link: target });
      return;
    }
    const mode: FileMode = header.mode & 0o111 ? 0o755 : 0o644;
    const hash = createHash('sha256');
    let size = 0;
    const fd = fs.openSync(out, 'w', mode);
    try {
      for await (const c of stream as AsyncIterable<Buffer>) {
        hash.update(c);
        size += c.length;
        fs.writeSync(fd, c);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(out, mode);
    st.bytes += size;
    st.entries.set(rel, { path: rel, size, mode, sha256: hash.digest('hex') });
  } catch (err) {
    throw err instanceof FlowsyncError ? err : fsError(err, 'write', out);
  }
}

/** After every layer: check the links against the whole tree, then create them. */
export function createLinks(st: ExtractState): void {
  const links = [...st.entries.values()].filter((e): e is { path: string; link: string } => 'link' in e);
  const linkPaths = new Set(links.map((l) => l.path));
  for (const l of links) {
    const reason = unsafeLinkReason(l.path, l.link, linkPaths);
    if (reason) throw hostile(l.path, `is a link to ${l.link}: ${reason}`, 'of the image');
  }
  for (const l of links) {
    const at = path.join(st.staging, ...l.path.split('/'));
    fs.rmSync(at, { force: true, recursive: true });
    fs.symlinkSync(l.link, at);
  }
}

/**
 * A local OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) in the cache folder.
 * `build` writes the layers, config and manifest of an image here; `push` sends them from here,
 * so the prefect.yaml build and push steps can run apart. skopeo and umoci read this folder too
 * (`oci:<dir>:<ref>`). Blobs are content-addressed and written by rename, so two builds never see
 * half a blob; index.json is rewritten whole by rename as well.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlowsyncError, fsError } from '../errors.js';
import type { Descriptor } from './types.js';

const REF_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Where the base's layers come from when the target registry lacks them. */
export const BASE_ANNOTATION = 'io.flowsync.base';

export interface LayoutIndex {
  schemaVersion: 2;
  manifests: Descriptor[];
}

export class ImageLayout {
  constructor(readonly dir: string) {}

  static async open(dir: string): Promise<ImageLayout> {
    try {
      await fsp.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
      if (!fs.existsSync(path.join(dir, 'oci-layout'))) await atomicWrite(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      if (!fs.existsSync(path.join(dir, 'index.json'))) await atomicWrite(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    } catch (err) {
      throw fsError(err, 'create the image folder', dir);
    }
    return new ImageLayout(dir);
  }

  blobPath(digest: string): string {
    const hex = digest.startsWith('sha256:') ? digest.slice(7) : '';
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new FlowsyncError('INVALID_INPUT', `Not a sha256 digest: ${JSON.stringify(digest)}.`);
    return path.join(this.dir, 'blobs', 'sha256', hex);
  }

  hasBlob(digest: string, size?: number): boolean {
    try {
      const st = fs.statSync(this.blobPath(digest));
      return size === undefined || st.size === size;
    } catch {
      return false;
    }
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.blobPath(digest));
    } catch (err) {
      throw fsError(err, 'read the image blob', this.blobPath(digest));
    }
  }

  /** Store bytes as a blob; returns its digest. */
  async writeBlob(bytes: Uint8Array): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (!this.hasBlob(digest, bytes.length)) await atomicWrite(this.blobPath(digest), bytes);
    return digest;
  }

  /** A temporary file beside the blobs; `commitTemp` moves it to its digest's name. */
  tempPath(): string {
    return path.join(this.dir, 'blobs', `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  async commitTemp(temp: string, digest: string): Promise<void> {
    try {
      await fsp.rename(temp, this.blobPath(digest));
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw fsError(err, 'store the image blob', this.blobPath(digest));
    }
  }

  async readIndex(): Promise<LayoutIndex> {
    try {
      const raw = JSON.parse(await fsp.readFile(path.join(this.dir, 'index.json'), 'utf8')) as LayoutIndex;
      return Array.isArray(raw.manifests) ? raw : { schemaVersion: 2, manifests: [] };
    } catch (err) {
      throw fsError(err, 'read the image index', path.join(this.dir, 'index.json'));
    }
  }

  /** Name a manifest (`image:tag`), replacing what the name pointed to before. */
  async setRef(name: string, manifest: Descriptor, extra: Record<string, string> = {}): Promise<void> {
    const index = await this.readIndex();
    const others = index.manifests.filter((d) => d.annotations?.[REF_ANNOTATION] !== name);
    others.push({ ...manifest, annotations: { ...extra, [REF_ANNOTATION]: name } });
    await atomicWrite(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: others }, null, 1));
  }

  async getRef(name: string): Promise<Descriptor | null> {
    const index = await this.readIndex();
    return index.manifests.find((d) => d.annotations?.[REF_ANNOTATION] === name) ?? null;
  }

  /** Small JSON records beside the layout (the layer cache), by key. */
  async readRecord<T>(kind: string, key: string): Promise<T | null> {
    try {
      return JSON.parse(await fsp.readFile(path.join(this.dir, 'flowsync', kind, key), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  async writeRecord(kind: string, key: string, value: unknown): Promise<void> {
    const file = path.join(this.dir, 'flowsync', kind, key);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await atomicWrite(file, JSON.stringify(value));
  }
}

async function atomicWrite(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(temp, data);
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true });
    throw fsError(err, 'write', file);
  }
}

/** The layout folder under flowsync's cache folder. */
export function defaultLayoutDir(cacheDir: string): string {
  return path.join(cacheDir, 'images');
}

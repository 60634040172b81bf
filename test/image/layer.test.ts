/**
 * The deterministic layer (no registry needed): the same tree in two fresh layouts gives the
 * same bytes; the tar inside is sorted, has every parent folder, one mtime (SOURCE_DATE_EPOCH),
 * uid/gid 0 without names, modes 0644/0755/0777, links kept, no PAX records for plain names;
 * the gzip header is fixed. The split into layers is stable under edits.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLayer, type LayerItem } from '../../src/image/layer.js';
import { ImageLayout } from '../../src/image/layout.js';
import { splitIntoLayers } from '../../src/image/split.js';
import type { ManifestEntry } from '../../src/manifest/types.js';
import { removeDir, tempDir } from '../e2e/support.js';

const work = tempDir('image-layer');
afterAll(() => removeDir(work));

function tree(): LayerItem[] {
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'flows/deep'), { recursive: true });
  fs.writeFileSync(path.join(src, 'flows/etl.py'), 'print(1)\n');
  fs.writeFileSync(path.join(src, 'flows/deep/b.py'), 'x = 2\n');
  fs.writeFileSync(path.join(src, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  const file = (p: string, mode: number): LayerItem => ({ kind: 'file', path: `opt/prefect/p/${p}`, source: path.join(src, p), size: fs.statSync(path.join(src, p)).size, mode });
  // Given out of order on purpose.
  return [file('run.sh', 0o755), { kind: 'link', path: 'opt/prefect/p/current', target: 'flows/etl.py' }, file('flows/etl.py', 0o644), file('flows/deep/b.py', 0o644)];
}

async function entries(gz: Buffer): Promise<tar.Header[]> {
  const out: tar.Header[] = [];
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    out.push(h);
    stream.on('end', () => next());
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(zlib.gunzipSync(gz));
  await done;
  return out;
}

describe('deterministic layers', () => {
  it('the same tree gives the same bytes in two fresh layouts; the tar is normalised', async () => {
    const items = tree();
    const a = await buildLayer(await ImageLayout.open(path.join(work, 'a')), items, { mtime: 1700000000, comment: '' });
    const b = await buildLayer(await ImageLayout.open(path.join(work, 'b')), [...items].reverse(), { mtime: 1700000000, comment: '' });
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    const other = await buildLayer(await ImageLayout.open(path.join(work, 'c')), items, { mtime: 0, comment: '' });
    expect(other.digest).not.toBe(a.digest);

    const gz = fs.readFileSync((await ImageLayout.open(path.join(work, 'a'))).blobPath(a.digest));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff]); // no name, time 0, level-1 XFL, OS unknown
    const hs = await entries(gz);
    expect(hs.map((h) => h.name)).toEqual(['opt/', 'opt/prefect/', 'opt/prefect/p/', 'opt/prefect/p/current', 'opt/prefect/p/flows/', 'opt/prefect/p/flows/deep/', 'opt/prefect/p/flows/deep/b.py', 'opt/prefect/p/flows/etl.py', 'opt/prefect/p/run.sh']);
    for (const h of hs) {
      expect(h.mtime.getTime()).toBe(1700000000 * 1000);
      expect([h.uid, h.gid, h.uname, h.gname]).toEqual([0, 0, '', '']);
      expect(h.pax ?? null).toBeNull();
    }
    const mode = (n: string) => hs.find((h) => h.name.endsWith(n))!.mode;
    expect([mode('run.sh'), mode('etl.py'), mode('flows/'), mode('current')]).toEqual([0o755, 0o644, 0o755, 0o777]);
    expect(hs.find((h) => h.name.endsWith('current'))).toMatchObject({ type: 'symlink', linkname: 'flows/etl.py' });
  });

  it('a file that changed size since the scan fails the build and leaves no blob', async () => {
    const items = tree();
    const layout = await ImageLayout.open(path.join(work, 'd'));
    fs.appendFileSync((items[0] as { source: string }).source, 'grown\n');
    await expect(buildLayer(layout, items, { mtime: 0, comment: '' })).rejects.toThrow(/changed while the image layer was being built/);
    expect(fs.readdirSync(path.join(layout.dir, 'blobs')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });
});

describe('split into layers', () => {
  const files = (n: number, size = 20_000): ManifestEntry[] => Array.from({ length: n }, (_, i) => ({ path: `pkg${i % 7}/mod_${String(i).padStart(5, '0')}.py`, size, mode: 0o644 as const, sha256: 'a'.repeat(64) })).sort((x, y) => (x.path < y.path ? -1 : 1));
  const key = (g: { entries: ManifestEntry[] }) => g.entries.map((e) => e.path).join('|');

  it('a small tree is one layer; large files get their own layer below the code', () => {
    expect(splitIntoLayers(files(50))).toHaveLength(1);
    const withBig = [...files(50), { path: 'data/model.bin', size: 50 * 1024 * 1024, mode: 0o644 as const, sha256: 'b'.repeat(64) }];
    const groups = splitIntoLayers(withBig);
    expect(groups).toHaveLength(2);
    expect(groups[0]!.entries.map((e) => e.path)).toEqual(['data/model.bin']);
  });

  it('a big tree is a few layers; editing one file changes one, adding one changes at most two', () => {
    const base = files(8000); // 160 MB of small files
    const groups = splitIntoLayers(base);
    expect(groups.length).toBeGreaterThan(4);
    expect(groups.length).toBeLessThanOrEqual(48);
    const edited = base.map((e, i) => (i === 1234 ? { ...e, sha256: 'c'.repeat(64) } : e));
    const after = splitIntoLayers(edited);
    expect(after.map(key)).toEqual(groups.map(key)); // same groups: only the one holding the file has new content
    const added = [...base, { path: 'pkg3/zz_new.py', size: 100, mode: 0o644 as const, sha256: 'd'.repeat(64) }].sort((x, y) => (x.path < y.path ? -1 : 1));
    const before = new Set(groups.map(key));
    expect(splitIntoLayers(added).map(key).filter((k) => !before.has(k)).length).toBeLessThanOrEqual(2);
  });
});

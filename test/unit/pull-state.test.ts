/** The pull's record of what it placed (.flowsync/state.json): written in pieces, read back whole. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPullState, savePullState, stateFile, type PlacedFile } from '../../src/sync/pull-state.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-pull-state-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the pull state', () => {
  it('round-trips many rows and awkward names, and stays one JSON document', async () => {
    const placed = new Map<string, PlacedFile>();
    const names = ['__proto__', 'constructor', '42', 'a "quoted" name', 'sub/ü/€/\u{1F600}', 'nested/deep/x.py', 'link'];
    for (const n of names) placed.set(n, { sha256: 'a'.repeat(64), id: { size: 3, mtimeMs: 1.5, ctimeMs: 2.25, ino: 7 } });
    placed.set('link', { link: 'nested/deep/x.py' });
    // Enough rows for several pieces of ~1 MB.
    for (let i = 0; i < 30_000; i++) placed.set(`bulk/${String(i).padStart(6, '0')}.txt`, { sha256: 'b'.repeat(64), etag: `"e${i}"`, id: { size: i, mtimeMs: i, ctimeMs: i, ino: i } });
    const dir = path.join(work, 'a');
    fs.mkdirSync(dir);
    await savePullState(dir, placed, { remote: 's3://b/p', manifest: 'f'.repeat(64), inProgress: false });
    const text = fs.readFileSync(stateFile(dir), 'utf8');
    expect(text.length).toBeGreaterThan(3 << 20);
    const doc = JSON.parse(text) as { files: Record<string, unknown>; remote: string };
    expect(doc.remote).toBe('s3://b/p');
    expect(Object.keys(doc.files)).toHaveLength(placed.size);
    const back = await loadPullState(dir);
    expect(back.setAside).toBeUndefined();
    expect(back.interrupted).toBe(false);
    expect(back.placed.size).toBe(placed.size);
    for (const n of names.filter((x) => x !== 'link')) expect(back.placed.get(n)).toMatchObject({ sha256: 'a'.repeat(64) });
    expect(back.placed.get('link')).toMatchObject({ link: 'nested/deep/x.py' });
    expect(back.placed.get('bulk/029999.txt')).toMatchObject({ sha256: 'b'.repeat(64), etag: '"e29999"' });
  });
});

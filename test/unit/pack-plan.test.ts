/** The packed layout's pure planners: dedup against the current version, pack grouping, entry location, range reads. */
import { describe, expect, it } from 'vitest';
import { createPackedManifest, RETAIN_PUSHES, type PackedManifest, type PackRef } from '../../src/manifest/packed.js';
import type { FileEntry, ManifestEntry } from '../../src/manifest/types.js';
import { locateEntries, planPackedPush, planPackReads, type UploadedPack } from '../../src/plan/pack-plan.js';

const SHA = (n: number) => n.toString(16).padStart(64, '0');
const file = (path: string, n: number, size = 100, mode: 420 | 493 = 420): FileEntry => ({ path, size, mode, sha256: SHA(n) });
const prov = { flowsync: 't', host: 'h' };
const KiB = 1024;

let packSerial = 1000;
/** The version a push of `entries` on top of `current` makes (packs get made-up names and offsets). */
function versionOf(entries: ManifestEntry[], current: PackedManifest | null = null) {
  const plan = planPackedPush(entries, current);
  const uploaded: UploadedPack[] = plan.packs.map((members) => ({
    ref: { sha256: SHA(packSerial++), size: 1 << 20 },
    members: members.map((m, j) => ({ sha256: m.sha256, offset: 512 + j * 1024 })),
  }));
  const { files, packs, retained } = locateEntries(entries, plan.known, uploaded, plan.blobs.map((b) => b.sha256), plan.retained);
  return createPackedManifest({ files, packs, provenance: prov, retained });
}

describe('planPackedPush', () => {
  it('first push: small files go into packs, big ones into blobs, empty files nowhere, copies once', () => {
    const local = [file('a', 1), file('b', 2, 2 << 20), file('c', 1), file('e', 3, 0), { path: 'l', link: 'a' }];
    const p = planPackedPush(local, null);
    expect(p.blobs.map((e) => e.path)).toEqual(['b']);
    expect(p.packs.map((g) => g.map((e) => e.path))).toEqual([['a']]);
    expect(p.newFiles).toBe(3); // a, b and c (c is a copy of a: counted, stored once)
    expect(p.changed).toBe(true);
  });

  it('groups small contents into packs no bigger than the target', () => {
    const local = Array.from({ length: 40 }, (_, i) => file(`f${String(i).padStart(2, '0')}`, i + 1, 100 * KiB));
    const p = planPackedPush(local, null, { smallFileMax: 1 << 20, packTarget: 1 << 20 });
    expect(p.packs.length).toBe(4); // 10 members of 100 KiB + headers fit in 1 MiB, 11 do not
    expect(p.packs.flat().map((e) => e.path)).toEqual(local.map((e) => e.path));
  });

  it('the same tree again changes nothing; a rename or copy uploads nothing; a new content uploads only itself', () => {
    const entries = [file('a', 1), file('b', 2), file('big', 3, 5 << 20)];
    const current = versionOf(entries);
    expect(planPackedPush(entries, current)).toMatchObject({ changed: false, newFiles: 0, blobs: [], packs: [], unchanged: 3 });
    const renamed = planPackedPush([file('a2', 1), file('b', 2), file('big-copy', 3, 5 << 20), file('big', 3, 5 << 20)], current);
    expect(renamed).toMatchObject({ changed: true, newFiles: 0, blobs: [], packs: [], removed: 1 });
    const mode = planPackedPush([file('a', 1, 100, 493), file('b', 2), file('big', 3, 5 << 20)], current);
    expect(mode).toMatchObject({ changed: true, newFiles: 0, unchanged: 2 });
    const edited = planPackedPush([file('a', 9), file('b', 2), file('big', 3, 5 << 20)], current);
    expect(edited.packs.flat().map((e) => e.path)).toEqual(['a']);
  });
});

describe('retained contents', () => {
  it('a content that left the tree is retained where it is stored, ages a push at a time, and is forgotten after RETAIN_PUSHES', () => {
    const base = [file('keep', 1), file('gone', 2), file('big', 3, 5 << 20)];
    const v1 = versionOf(base);
    let v = versionOf([file('keep', 1)], v1);
    expect(v.retained.map((r) => [r.sha256, r.age])).toEqual([
      [SHA(2), 1],
      [SHA(3), 1],
    ]);
    // The pack of a retained member stays listed (its index points at it); the blob is named by its sha.
    const small = v.retained.find((r) => r.sha256 === SHA(2))!;
    expect(v.packs[small.pack!]!.sha256).toBe(v1.packs[0]!.sha256);
    expect(v.retained.find((r) => r.sha256 === SHA(3))).not.toHaveProperty('pack');
    // Restoring them within the window uploads nothing, and they are listed again, not retained.
    const restored = planPackedPush(base, v);
    expect(restored).toMatchObject({ newFiles: 0, blobs: [], packs: [], retained: [] });
    const back = versionOf(base, v);
    expect(back.files.find((e) => e.path === 'gone')).toMatchObject({ pack: 0, offset: small.offset });
    for (let i = 2; i <= RETAIN_PUSHES; i++) {
      v = versionOf([file('keep', 1), file(`n${i}`, 100 + i)], v);
      expect(v.retained.find((r) => r.sha256 === SHA(2))?.age).toBe(i);
    }
    // One push more and it is forgotten: restoring it now uploads it again.
    v = versionOf([file('keep', 1)], v);
    expect(v.retained.map((r) => r.sha256)).not.toContain(SHA(2));
    expect(planPackedPush(base, v).packs.flat().map((e) => e.path)).toEqual(['gone']);
  });

  it('a new version lists only the packs its files and retained contents use', () => {
    const v1 = versionOf([file('a', 1), file('b', 2)]);
    const newPack = packSerial;
    const v2 = versionOf([file('c', 3)], v1);
    expect(v2.packs.map((p) => p.sha256)).toEqual([v1.packs[0]!.sha256, SHA(newPack)].sort());
    // a and b back in the tree: v1's pack is listed for the files, v2's for what c left retained.
    const v3 = versionOf([file('a', 1), file('b', 2)], v2);
    expect(v3.retained.map((r) => r.sha256)).toEqual([SHA(3)]);
    expect(v3.packs.map((p) => p.sha256)).toEqual([v1.packs[0]!.sha256, SHA(newPack)].sort());
    // Once nothing lists or retains a pack's contents any more (c forgotten after RETAIN_PUSHES
    // pushes, each changing the tree), the versions stop naming it.
    let v = v3;
    for (let i = 0; i < RETAIN_PUSHES; i++) v = versionOf([file('a', 1), file('b', 2), file(`n${i}`, 300 + i)], v);
    expect(v.retained.map((r) => r.sha256)).not.toContain(SHA(3));
    expect(v.packs.map((p) => p.sha256)).toContain(v1.packs[0]!.sha256);
    expect(v.packs.map((p) => p.sha256)).not.toContain(SHA(newPack));
    // Nothing retained is empty: an empty file needs no object.
    const empty = versionOf([file('e', 9, 0)], versionOf([file('e2', 8, 0)]));
    expect(empty.retained).toEqual([]);
  });
});

describe('locateEntries', () => {
  it('points each file at its pack and offset, or at its blob; lists only packs in use, sorted', () => {
    const entries = [file('a', 1), file('b', 2, 5 << 20), file('z', 0, 0)];
    const firstPack = packSerial;
    const m = versionOf(entries);
    expect(m.packs.map((p) => p.sha256)).toEqual([SHA(firstPack)]);
    const byPath = new Map(m.files.map((e) => [e.path, e]));
    expect(byPath.get('a')).toMatchObject({ pack: 0, offset: 512 });
    expect(byPath.get('b')).not.toHaveProperty('pack');
    expect(byPath.get('z')).not.toHaveProperty('pack');
    expect(m.counts).toEqual({ files: 3, bytes: 100 + (5 << 20) });
    expect(() => locateEntries([file('q', 77)], new Map(), [], [])).toThrow(/no location/);
  });
});

describe('planPackReads', () => {
  const pack: PackRef = { sha256: SHA(5), size: 100 * 1024 };
  const member = (offset: number, size: number, n = offset) => ({ sha256: SHA(n), size, pack, offset });

  it('reads one member alone, coalesces neighbours, and reads the whole pack when most is needed', () => {
    expect(planPackReads([member(512, 100)], { gapMax: 1024, wholeFraction: 0.5 })).toEqual([{ pack, start: 512, end: 612, members: [{ sha256: SHA(512), offset: 512, size: 100 }] }]);
    const two = planPackReads([member(10_240, 100), member(512, 100), member(1536, 100)], { gapMax: 1024, wholeFraction: 0.5 });
    expect(two.map((r) => [r.start, r.end, r.members.length])).toEqual([
      [512, 1636, 2],
      [10_240, 10_340, 1],
    ]);
    const most = planPackReads([member(512, 30_000), member(40_960, 30_000)], { gapMax: 0, wholeFraction: 0.5 });
    expect(most.map((r) => [r.start, r.end])).toEqual([[0, pack.size]]);
  });

  it('reads a content wanted at several paths once and skips empty files', () => {
    const reads = planPackReads([member(512, 10, 1), member(512, 10, 1), member(0, 0, 2)]);
    expect(reads).toHaveLength(1);
    expect(reads[0]!.members).toHaveLength(1);
  });
});

/** planPush: a pure function (local entries, remote entries | null) → uploads, deletes, unchanged. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileEntry, ManifestEntry } from '../../src/manifest/types.js';
import { isFile, sameContent } from '../../src/manifest/types.js';
import { planPush } from '../../src/plan/push-plan.js';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const f = (path: string, n = 1, mode: 420 | 493 = 420): FileEntry => ({ path, size: n, mode, sha256: sha(n) });
const l = (path: string, link: string): ManifestEntry => ({ path, link });

describe('planPush examples', () => {
  it('uploads everything to an empty remote and rewrites the manifest', () => {
    const p = planPush([f('a'), f('b', 2), l('c', 'a')], null);
    expect(p.upload.map((e) => e.path)).toEqual(['a', 'b']);
    expect(p).toMatchObject({ delete: [], unchanged: 0, manifestChanged: true });
  });

  it('does nothing when both sides are equal', () => {
    const entries = [f('a'), f('b', 2, 493), l('c', 'a')];
    expect(planPush(entries, [...entries].reverse())).toEqual({ upload: [], delete: [], update: [], unchanged: 3, manifestChanged: false });
  });

  it('uploads changed content, deletes files gone, keeps links out of objects', () => {
    const p = planPush([f('a', 2), l('c', 'a'), f('new')], [f('a', 1), f('gone'), l('c', 'a'), l('oldlink', 'a')]);
    expect(p.upload.map((e) => e.path)).toEqual(['a', 'new']);
    expect(p.delete).toEqual(['gone']); // the old link has no object to delete
    expect(p.unchanged).toBe(1);
    expect(p.manifestChanged).toBe(true);
  });

  it('a mode-only change rewrites the manifest but uploads no bytes', () => {
    const p = planPush([f('run.sh', 1, 493)], [f('run.sh', 1, 420)]);
    expect(p).toEqual({ upload: [], delete: [], update: ['run.sh'], unchanged: 0, manifestChanged: true });
  });

  it('a file that became a link deletes its object; a link that became a file uploads it', () => {
    expect(planPush([l('x', 'y'), f('y')], [f('x'), f('y')])).toMatchObject({ upload: [], delete: ['x'], update: ['x'], manifestChanged: true });
    expect(planPush([f('x'), f('y')], [l('x', 'y'), f('y')])).toMatchObject({ upload: [f('x')], delete: [], manifestChanged: true });
  });

  it('a retargeted link changes only the manifest', () => {
    expect(planPush([l('x', 'b'), f('a'), f('b')], [l('x', 'a'), f('a'), f('b')])).toEqual({ upload: [], delete: [], update: ['x'], unchanged: 2, manifestChanged: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: apply the plan to a model of the remote (objects + manifest) and reach the local state.

const PATHS = ['a', 'b', 'c', 'd/e', 'd/f', 'g/h/i', 'x y', '\u00e9'];
const entryAt = (path: string) =>
  fc.oneof(
    fc.record({ size: fc.integer({ min: 0, max: 3 }), mode: fc.constantFrom(420 as const, 493 as const) }).map(
      ({ size, mode }): ManifestEntry => ({ path, size, mode, sha256: sha(size) }),
    ),
    fc.constantFrom('a', 'b', 'd/e').map((target): ManifestEntry => ({ path, link: target })),
  );
const manifestArb: fc.Arbitrary<ManifestEntry[]> = fc
  .subarray(PATHS)
  .chain((paths) => (paths.length === 0 ? fc.constant<ManifestEntry[]>([]) : fc.tuple(...paths.map(entryAt)).map((t): ManifestEntry[] => [...t])));

describe('planPush property', () => {
  it('applying the plan to the remote reaches the local state', () => {
    fc.assert(
      fc.property(manifestArb, fc.option(manifestArb, { nil: null }), fc.boolean(), (local, remote, doDelete) => {
        const plan = planPush(local, remote);
        // Remote objects: exactly the files the remote manifest lists.
        const objects = new Map<string, string>();
        for (const e of remote ?? []) if (isFile(e)) objects.set(e.path, e.sha256);
        const before = new Map(objects);
        for (const u of plan.upload) objects.set(u.path, u.sha256);
        if (doDelete) for (const d of plan.delete) objects.delete(d);

        // Every local file's bytes are at its key.
        for (const e of local) if (isFile(e)) expect(objects.get(e.path)).toBe(e.sha256);
        // With deletes, no object remains that the new manifest does not list as a file.
        const localFiles = new Set(local.filter(isFile).map((e) => e.path));
        if (doDelete) for (const k of objects.keys()) expect(localFiles.has(k)).toBe(true);
        // Without deletes, every old object is still there (or replaced by the new upload).
        else for (const k of before.keys()) expect(objects.has(k)).toBe(true);
        // Minimal: nothing uploaded that was already there with the same bytes.
        for (const u of plan.upload) expect(before.get(u.path)).not.toBe(u.sha256);
        // Deletes touch only files the old manifest listed and the new one lacks as a file.
        for (const d of plan.delete) expect(before.has(d) && !localFiles.has(d)).toBe(true);
        // unchanged counts entries identical on both sides; the manifest changes iff the sets differ.
        const remoteBy = new Map((remote ?? []).map((e) => [e.path, e]));
        const same = local.filter((e) => remoteBy.has(e.path) && sameContent(remoteBy.get(e.path)!, e)).length;
        expect(plan.unchanged).toBe(same);
        expect(plan.manifestChanged).toBe(remote === null || same !== local.length || local.length !== remote.length);
        // update: every other changed entry (a mode, a link), none that is also uploaded.
        const sent = new Set(plan.upload.map((e) => e.path));
        const changedInPlace = local.filter((e) => !sent.has(e.path) && !(remoteBy.has(e.path) && sameContent(remoteBy.get(e.path)!, e))).map((e) => e.path);
        expect([...plan.update].sort()).toEqual(changedInPlace.sort());
      }),
      { numRuns: 1000 },
    );
  });
});

/**
 * planPull: a pure function (targets, local state, record of what earlier pulls placed, flags)
 * → first deletes (clear), downloads, links, chmods, deletes, conflicts, kept, forget. Examples,
 * then properties over a model of the local folder: apply the plan and check where it lands,
 * what it may touch, and that a second plan after a successful one has nothing left to do.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileMode } from '../../src/manifest/types.js';
import { planPull, type LocalState, type Placed, type PullPlan, type PullTarget } from '../../src/plan/pull-plan.js';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const tf = (path: string, n: number, mode: FileMode = 420): PullTarget => ({ path, size: n, mode, sha256: sha(n) });
const tl = (path: string, link: string): PullTarget => ({ path, link });
const lf = (n: number | null, mode: FileMode = 420): LocalState => ({ kind: 'file', sha256: n === null ? null : sha(n), mode });

function plan(targets: PullTarget[], local: Record<string, LocalState>, placed: Record<string, Placed>, flags: { delete?: boolean; force?: boolean } = {}): PullPlan {
  return planPull({
    targets,
    local: (p) => local[p] ?? { kind: 'missing' },
    placed: new Map(Object.entries(placed)),
    delete: flags.delete ?? true,
    force: flags.force ?? false,
  });
}

describe('planPull examples', () => {
  it('downloads and links what is missing', () => {
    const p = plan([tf('a', 1), tl('l', 'a')], {}, {});
    expect(p.download.map((t) => t.path)).toEqual(['a']);
    expect(p.link).toEqual([tl('l', 'a')]);
    expect(p).toMatchObject({ delete: [], conflicts: [], unchanged: 0 });
  });

  it('leaves identical files alone, placed or not, and fixes only the exec bit', () => {
    const p = plan([tf('a', 1), tf('b', 2, 493), tl('l', 'a')], { a: lf(1), b: lf(2, 420), l: { kind: 'link', target: 'a' } }, {});
    expect(p).toMatchObject({ download: [], link: [], delete: [], conflicts: [], unchanged: 2 });
    expect(p.chmod.map((t) => t.path)).toEqual(['b']);
  });

  it('a local file flowsync did not place, with other content, is a conflict; --force overrides it', () => {
    const local = { a: lf(9) };
    const p = plan([tf('a', 1)], local, {});
    expect(p.download).toEqual([]);
    expect(p.conflicts).toEqual([{ path: 'a', reason: 'a file that flowsync did not place is in the way', overridable: true }]);
    const forced = plan([tf('a', 1)], local, {}, { force: true });
    expect(forced.download.map((t) => t.path)).toEqual(['a']);
    expect(forced.conflicts).toHaveLength(1); // still reported, so the caller can warn
  });

  it('a placed file that is unchanged is replaced; a placed file changed locally is a conflict', () => {
    expect(plan([tf('a', 2)], { a: lf(1) }, { a: { sha256: sha(1) } })).toMatchObject({ download: [tf('a', 2)], conflicts: [] });
    const changed = plan([tf('a', 2)], { a: lf(3) }, { a: { sha256: sha(1) } });
    expect(changed.download).toEqual([]);
    expect(changed.conflicts[0]).toMatchObject({ path: 'a', reason: 'changed locally since flowsync placed it' });
  });

  it('a folder in the way is a conflict that --force does not override', () => {
    const p = plan([tf('a', 1)], { a: { kind: 'dir' } }, {}, { force: true });
    expect(p.download).toEqual([]);
    expect(p.conflicts).toEqual([{ path: 'a', reason: 'a folder is in the way', overridable: false }]);
  });

  it('a folder in the way gives way when it holds only placed files this pull deletes: those go first', () => {
    const input = (files: string[] | null) =>
      planPull({
        targets: [tf('a', 1)],
        local: (p) => ({ a: { kind: 'dir' }, 'a/x': lf(1), 'a/y/z': lf(2) } as Record<string, LocalState>)[p] ?? { kind: 'missing' },
        folderFiles: (p) => (p === 'a' ? files : null),
        placed: new Map([['a/x', { sha256: sha(1) }], ['a/y/z', { sha256: sha(2) }]]),
        delete: true,
        force: false,
      });
    const p = input(['a/x', 'a/y/z']);
    expect(p).toMatchObject({ conflicts: [], clear: ['a/x', 'a/y/z'] });
    expect(p.download.map((t) => t.path)).toEqual(['a']);
    expect(p.delete.sort()).toEqual(['a/x', 'a/y/z']);
    // A file of the user's in that folder (or a folder too big to look through) keeps the conflict.
    for (const files of [['a/x', 'a/y/z', 'a/mine'], null]) {
      expect(input(files)).toMatchObject({ download: [], clear: [], conflicts: [{ path: 'a', reason: 'a folder is in the way', overridable: false }] });
    }
  });

  it('a file where a folder must go: cleared first when placed and dropped, else a conflict --force overrides', () => {
    const local: Record<string, LocalState> = { d: lf(1) };
    const dropped = plan([tf('d/e', 2)], local, { d: { sha256: sha(1) } });
    expect(dropped).toMatchObject({ clear: ['d'], delete: ['d'], conflicts: [] });
    expect(dropped.download.map((t) => t.path)).toEqual(['d/e']);
    const notOurs = plan([tf('d/e', 2), tf('d/f', 3)], local, {});
    expect(notOurs).toMatchObject({ clear: [], conflicts: [{ path: 'd', reason: 'a file is where the folder of d/e must go', overridable: true }] });
    const forced = plan([tf('d/e', 2)], local, {}, { force: true });
    expect(forced).toMatchObject({ clear: ['d'], delete: [] });
    expect(forced.conflicts).toHaveLength(1);
  });

  it('deletes placed files no longer listed; keeps (and forgets) the ones changed locally', () => {
    const p = plan([], { gone: lf(1), edited: lf(5), missing: { kind: 'missing' } }, { gone: { sha256: sha(1) }, edited: { sha256: sha(1) }, missing: { sha256: sha(1) } });
    expect(p.delete).toEqual(['gone']);
    expect(p.kept).toEqual(['edited']);
    expect(p.forget.sort()).toEqual(['edited', 'missing']);
  });

  it('--no-delete deletes nothing and keeps the record of placed files', () => {
    const p = plan([], { gone: lf(1), edited: lf(5) }, { gone: { sha256: sha(1) }, edited: { sha256: sha(1) } }, { delete: false });
    expect(p).toMatchObject({ delete: [], kept: [], forget: [] });
  });

  it('never deletes a file it did not place, even with --force', () => {
    const p = plan([], { stranger: lf(1) }, {}, { force: true });
    expect(p.delete).toEqual([]);
  });

  it('a file a killed pull was about to place (pending) counts as its own: replaced, or deleted when dropped', () => {
    // 'a' holds what the killed pull was writing (pending 5); the source has moved on to 6.
    const p = plan([tf('a', 6), tl('l', 'x')], { a: lf(5), l: { kind: 'link', target: 'old' }, gone: lf(7) }, { a: { pending: sha(5) }, l: { pending: 'old' }, gone: { sha256: sha(1), pending: sha(7) } });
    expect(p.conflicts).toEqual([]);
    expect(p.download.map((t) => t.path)).toEqual(['a']);
    expect(p.link.map((t) => t.path)).toEqual(['l']);
    expect(p.delete).toEqual(['gone']);
    // Content that matches neither what was placed nor what was pending is still not flowsync's.
    expect(plan([tf('a', 6)], { a: lf(9) }, { a: { sha256: sha(1), pending: sha(5) } }).conflicts.map((c) => c.path)).toEqual(['a']);
  });

  it('without a manifest, trusts a local file only if it is the very object version it placed', () => {
    const t: PullTarget = { path: 'a', size: 1, mode: 420, etag: 'v1' };
    expect(plan([t], { a: lf(1) }, { a: { sha256: sha(1), etag: 'v1' } }).unchanged).toBe(1);
    expect(plan([t], { a: lf(1) }, { a: { sha256: sha(1), etag: 'v0' } }).download).toEqual([t]); // new version: ours, replace
    expect(plan([t], { a: lf(1) }, {}).conflicts).toHaveLength(1); // not ours, cannot tell: conflict
  });
});

// ---------------------------------------------------------------------------------------------
// The model.

const PATHS = ['a', 'b', 'c', 'd', 'e', 'f'];
const SHAS = [1, 2, 3];
const ETAG_CONTENT: Record<string, number> = { e1: 1, e2: 2, e3: 3 };

type Model = Map<string, LocalState>;

const fileTarget = (path: string, withManifest: boolean) =>
  withManifest
    ? fc.record({ n: fc.constantFrom(...SHAS), mode: fc.constantFrom(420 as const, 493 as const) }).map(({ n, mode }): PullTarget => tf(path, n, mode))
    : fc.constantFrom('e1', 'e2', 'e3').map((etag): PullTarget => ({ path, size: ETAG_CONTENT[etag]!, mode: 420, etag }));
const targetArb = (path: string, withManifest: boolean) =>
  fc.oneof(fileTarget(path, withManifest), fc.constantFrom('a', 'b').map((to) => tl(path, to)));
const localArb: fc.Arbitrary<LocalState> = fc.oneof(
  fc.constant<LocalState>({ kind: 'missing' }),
  fc.record({ n: fc.constantFrom<number | null>(...SHAS, null), mode: fc.constantFrom(420 as const, 493 as const) }).map(({ n, mode }) => lf(n, mode)),
  fc.constantFrom('a', 'b').map((target): LocalState => ({ kind: 'link', target })),
  fc.constant<LocalState>({ kind: 'dir' }),
  fc.constant<LocalState>({ kind: 'other' }),
);
const placedArb: fc.Arbitrary<Placed> = fc.oneof(
  fc.constantFrom(...SHAS).map((n): Placed => ({ sha256: sha(n) })),
  // An object version always has the same content: the record of version e1 says content 1.
  fc.constantFrom('e1', 'e2', 'e3').map((etag): Placed => ({ sha256: sha(ETAG_CONTENT[etag]!), etag })),
  fc.constantFrom('a', 'b').map((link): Placed => ({ link })),
);

const scenario = fc.boolean().chain((withManifest) =>
  fc.record({
    withManifest: fc.constant(withManifest),
    targets: fc.subarray(PATHS).chain((ps) => (ps.length ? fc.tuple(...ps.map((p) => targetArb(p, withManifest))) : fc.constant([] as PullTarget[]))),
    local: fc.dictionary(fc.constantFrom(...PATHS), localArb),
    placed: fc.dictionary(fc.constantFrom(...PATHS), placedArb),
    delete: fc.boolean(),
    force: fc.boolean(),
  }),
);

/** The content a target stands for: its sha256, or (no manifest) the content of its object version. */
const contentOf = (t: PullTarget): string => ('link' in t ? '' : t.sha256 ?? sha(ETAG_CONTENT[t.etag!]!));

function isOurs(l: LocalState, p: Placed | undefined): boolean {
  if (!p) return false;
  if (l.kind === 'file') return p.sha256 !== undefined && l.sha256 === p.sha256;
  if (l.kind === 'link') return p.link === l.target;
  return false;
}

function reached(l: LocalState, t: PullTarget): boolean {
  if ('link' in t) return l.kind === 'link' && l.target === t.link;
  return l.kind === 'file' && l.sha256 === contentOf(t) && l.mode === t.mode;
}

/** Apply a plan as pull.ts does, updating the model and the record. */
function apply(p: PullPlan, model: Model, placed: Map<string, Placed>): void {
  for (const t of p.download) {
    model.set(t.path, lf(null, t.mode));
    model.set(t.path, { kind: 'file', sha256: contentOf(t), mode: t.mode });
    placed.set(t.path, { sha256: contentOf(t), ...(!('link' in t) && t.etag ? { etag: t.etag } : {}) });
  }
  for (const t of p.chmod) {
    const cur = model.get(t.path) as Extract<LocalState, { kind: 'file' }>;
    model.set(t.path, { ...cur, mode: t.mode });
    const prev = placed.get(t.path);
    placed.set(t.path, { sha256: contentOf(t), ...(prev?.etag ? { etag: prev.etag } : {}) });
  }
  for (const t of p.link) {
    model.set(t.path, { kind: 'link', target: t.link });
    placed.set(t.path, { link: t.link });
  }
  for (const d of p.delete) {
    model.set(d, { kind: 'missing' });
    placed.delete(d);
  }
  for (const f of p.forget) placed.delete(f);
}

describe('planPull properties', () => {
  it('reaches the target for every path that is not a conflict, and touches only what it may', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const model: Model = new Map(Object.entries(s.local));
        const placed = new Map(Object.entries(s.placed));
        const placedBefore = new Map(placed);
        const before = new Map(model);
        const localOf = (p: string) => model.get(p) ?? { kind: 'missing' as const };
        const p = planPull({ targets: s.targets, local: localOf, placed: new Map(placed), delete: s.delete, force: s.force });
        const targets = new Map(s.targets.map((t) => [t.path, t]));
        const conflicted = new Map(p.conflicts.map((c) => [c.path, c]));

        // Each path is in at most one action, and actions are on the right kind of path.
        const acted = [...p.download.map((t) => t.path), ...p.link.map((t) => t.path), ...p.chmod.map((t) => t.path), ...p.delete];
        expect(new Set(acted).size).toBe(acted.length);
        for (const t of [...p.download, ...p.link, ...p.chmod]) expect(targets.get(t.path)).toBe(t);
        for (const d of p.delete) expect(targets.has(d) || !placed.has(d)).toBe(false);
        if (!s.delete) expect(p.delete).toEqual([]);

        // Safety: a path that exists locally is overwritten or deleted only if flowsync placed it
        // and it is unchanged, or with force (overwrites are then also listed as conflicts).
        // A folder is never replaced or deleted.
        for (const path of [...p.download.map((t) => t.path), ...p.link.map((t) => t.path)]) {
          const l = before.get(path) ?? { kind: 'missing' };
          if (l.kind === 'missing') continue;
          expect(l.kind).not.toBe('dir');
          if (!isOurs(l, placed.get(path))) {
            expect(s.force).toBe(true);
            expect(conflicted.get(path)?.overridable).toBe(true);
          }
        }
        for (const path of p.delete) {
          const l = before.get(path)!;
          expect(l.kind).not.toBe('dir');
          if (!isOurs(l, placed.get(path))) {
            expect(s.force).toBe(true);
            expect(conflicted.get(path)?.overridable).toBe(true); // a forced delete is reported too
          }
        }
        // A chmod only touches a file that already has the target content.
        for (const t of p.chmod) expect((before.get(t.path) as { sha256?: string }).sha256).toBe(contentOf(t));

        apply(p, model, placed);

        for (const [path, t] of targets) {
          const c = conflicted.get(path);
          if (!c || (s.force && c.overridable)) expect(reached(localOf(path), t)).toBe(true);
          else expect(localOf(path)).toEqual(before.get(path) ?? { kind: 'missing' }); // untouched
        }
        // Paths neither listed nor placed are never touched.
        for (const path of PATHS) {
          if (!targets.has(path) && !s.placed[path]) expect(localOf(path)).toEqual(before.get(path) ?? { kind: 'missing' });
        }
        // kept: placed, no longer listed, changed locally: kept on disk, dropped from the record.
        for (const k of p.kept) {
          expect(targets.has(k)).toBe(false);
          expect(localOf(k)).toEqual(before.get(k));
          expect(p.forget).toContain(k);
          expect(placed.has(k)).toBe(false);
        }
        // forget: exactly the placed-and-unlisted paths that are gone locally, plus the kept ones.
        const gone = Object.keys(s.placed).filter((q) => !targets.has(q) && (before.get(q) ?? { kind: 'missing' }).kind === 'missing');
        expect([...p.forget].sort()).toEqual([...new Set([...gone, ...p.kept])].sort());
        // unchanged counts targets already in place.
        // (Without a manifest, a file only counts as in place when the record vouches for it: the
        // planner cannot know an object's content before downloading it.)
        const vouched = (t: PullTarget) => 'link' in t || t.sha256 !== undefined || placedBefore.get(t.path)?.etag === t.etag;
        const already = [...targets.values()].filter((t) => reached(before.get(t.path) ?? { kind: 'missing' }, t) && vouched(t)).length;
        expect(p.unchanged).toBe(already);
      }),
      { numRuns: 3000 },
    );
  });

  it('after a successful pull, pulling again has nothing to do (convergence)', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const model: Model = new Map(Object.entries(s.local));
        const placed = new Map(Object.entries(s.placed));
        const localOf = (p: string) => model.get(p) ?? { kind: 'missing' as const };
        const first = planPull({ targets: s.targets, local: localOf, placed: new Map(placed), delete: s.delete, force: s.force });
        // pull.ts stops before writing when a conflict blocks; only a clean or forced plan runs.
        fc.pre(first.conflicts.every((c) => s.force && c.overridable));
        apply(first, model, placed);
        const second = planPull({ targets: s.targets, local: localOf, placed: new Map(placed), delete: s.delete, force: false });
        expect(second).toMatchObject({ download: [], link: [], chmod: [], delete: [], conflicts: [], kept: [] });
        expect(second.unchanged).toBe(s.targets.length);
        // Every target is now on record as placed by flowsync, or identical and left alone.
        for (const t of s.targets) expect(reached(localOf(t.path), t)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

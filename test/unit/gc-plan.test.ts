/** gc's pure planners: which versions stay, which packs/blobs go, and the grace period. */
import { describe, expect, it } from 'vitest';
import { planGcObjects, planGcVersions } from '../../src/plan/gc-plan.js';

const now = new Date('2026-06-01T12:00:00Z');
const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
const HOUR = 3_600_000;

describe('planGcVersions', () => {
  const versions = [
    { id: 'v1', lastModified: ago(500) },
    { id: 'v2', lastModified: ago(400) },
    { id: 'v3', lastModified: ago(300) },
    { id: 'v4', lastModified: ago(200) },
    { id: 'v5', lastModified: ago(30) }, // inside the grace period
  ];
  it('keeps the current version, the newest N others and every young one', () => {
    expect(planGcVersions({ versions, current: 'v1', keep: 1, graceMs: HOUR, now })).toEqual({ keep: ['v5', 'v1'], delete: ['v4', 'v3', 'v2'] });
    expect(planGcVersions({ versions, current: 'v4', keep: 2, graceMs: HOUR, now })).toEqual({ keep: ['v5', 'v4', 'v3'], delete: ['v2', 'v1'] });
    expect(planGcVersions({ versions, current: 'v5', keep: 0, graceMs: 0, now }).delete).toEqual(['v4', 'v3', 'v2', 'v1']);
  });
  it('never deletes a version whose age is unknown', () => {
    expect(planGcVersions({ versions: [{ id: 'x' }, { id: 'cur', lastModified: ago(1) }], current: 'cur', keep: 0, graceMs: 0, now }).delete).toEqual([]);
  });
});

describe('planGcObjects', () => {
  it('deletes unreferenced objects older than the grace period only', () => {
    const objects = [
      { key: 'p/used', size: 1, lastModified: ago(600) },
      { key: 'p/old', size: 2, lastModified: ago(600) },
      { key: 'p/young', size: 3, lastModified: ago(5) },
      { key: 'p/unknown', size: 4 },
    ];
    const plan = planGcObjects({ objects, referenced: new Set(['p/used']), graceMs: HOUR, now });
    expect(plan.delete.map((o) => o.key)).toEqual(['p/old']);
    expect(plan.young.map((o) => o.key)).toEqual(['p/young', 'p/unknown']);
    expect(plan.kept).toBe(1);
  });
});

/**
 * The CLI's heap-growth policy (src/cli/heap-growth.ts), observed on a real V8: each case runs in
 * a fresh node process (the flag is process-wide) that installs the policy, holds a live set,
 * and then allocates objects that live long enough to be promoted and die there — what a long
 * transfer's requests and socket buffers do. Counted: full collections, and the heap's size
 * between them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { heapGrowingPercent, MIN_ROOM_BYTES } from '../../src/cli/heap-growth.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const policy = path.join(repoRoot, 'dist', 'src', 'cli', 'heap-growth.js');

// argv[1]: the policy module (or "none"), argv[2]: MB to hold alive (arrays of doubles), argv[3]: objects per promoted batch.
const CHILD = `
import v8 from 'node:v8';
import { constants, PerformanceObserver } from 'node:perf_hooks';
const [mod, liveMb] = process.argv.slice(1);
if (mod !== 'none') (await import(mod)).capHeapGrowthWhenLarge();
let majors = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; }).observe({ entryTypes: ['gc'] });
const live = [];
for (let k = 0; k < Number(liveMb) * 16; k++) live.push(new Array(8192).fill(k + 0.5));
const tick = () => new Promise((r) => setImmediate(r));
await tick();
// The policy sets the growth at a full collection for the one after it, and GC entries reach
// observers late: the heap is measured from the third full collection of the churn on.
const liveBytes = v8.getHeapStatistics().used_heap_size;
const start = majors;
let peak = 0, peakAll = 0, counted = 0, rolling = [];
for (let i = 0; i < 6000000; i++) {
  rolling.push({ i, k: [i] });
  if (rolling.length > Number(process.argv[3] ?? 100000)) rolling = [];
  if (i % 20000 === 0) {
    peakAll = Math.max(peakAll, v8.getHeapStatistics().used_heap_size);
    if (majors - start >= 3) { if (!counted) counted = majors - start; peak = Math.max(peak, v8.getHeapStatistics().used_heap_size); }
    await tick();
  }
}
process.stdout.write(JSON.stringify({ majors: majors - start, measuredFrom: counted, liveMB: Math.round(liveBytes / 1e6), peakRatio: +(peak / liveBytes).toFixed(2), peakRatioAll: +(peakAll / liveBytes).toFixed(2), held: live.length }) + '\\n');
`;

/** The fixed cap the CLI set before this policy, for comparison. */
const FIXED_30 = `data:text/javascript,import v8 from 'node:v8'; export function capHeapGrowthWhenLarge() { v8.setFlagsFromString('--heap-growing-percent=30'); }`;

function run(mod: string, liveMb: number, batch: number): { majors: number; measuredFrom: number; peakRatio: number; peakRatioAll: number } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, mod, String(liveMb), String(batch)], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out) as { majors: number; measuredFrom: number; peakRatio: number; peakRatioAll: number };
}

describe('heap growth policy', () => {
  it('leaves at least the minimum room, V8 own factor on small heaps and 30 % on large ones', () => {
    expect(heapGrowingPercent(MIN_ROOM_BYTES / 2)).toBe(0);
    expect(heapGrowingPercent(MIN_ROOM_BYTES)).toBe(0);
    expect(heapGrowingPercent(MIN_ROOM_BYTES * 2)).toBe(50);
    expect(heapGrowingPercent(MIN_ROOM_BYTES * 10)).toBe(30);
  });

  it('a small heap collects about as often as without the policy, where the fixed cap collected twice as often', () => {
    const without = run('none', 2, 20_000);
    const fixed = run(FIXED_30, 2, 20_000);
    const withPolicy = run(policy, 2, 20_000);
    expect(fixed.majors).toBeGreaterThan(without.majors + 2); // the premise: the fixed cap costs collections here
    expect(withPolicy.majors).toBeLessThanOrEqual(without.majors + 2);
  }, 60_000);

  it('a large heap is kept near what is alive (the cap applies), where V8 alone lets it triple', () => {
    const without = run('none', 150, 100_000);
    const withPolicy = run(policy, 150, 100_000);
    expect(withPolicy.measuredFrom).toBeGreaterThanOrEqual(3);
    expect(without.peakRatioAll).toBeGreaterThan(2.5); // the premise: unbounded, the heap grows well past the live set
    expect(withPolicy.peakRatio).toBeLessThan(2);
  }, 60_000);
});

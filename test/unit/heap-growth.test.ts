/**
 * The CLI's heap-growth policy (src/cli/heap-growth.ts). The decision is a pure function; the
 * wiring (a full collection is observed, what it left alive decides, the flag is set) runs in a
 * fresh node process (the flag is process-wide) with collections forced by gc() and
 * v8.setFlagsFromString recorded. What V8 does with the flag is V8's: the numbers behind the
 * choice (full collections and CPU of a 1 GiB download, RSS of a 100k-file pull) come from the
 * bench machine and are in the module's header, not asserted here.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { heapGrowingPercent, MIN_ROOM_BYTES } from '../../src/cli/heap-growth.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const policy = path.join(repoRoot, 'dist', 'src', 'cli', 'heap-growth.js');

// argv[1]: the policy module. Prints the flags set after each step: small heap, large heap, small again.
const CHILD = `
import v8 from 'node:v8';
const set = [];
const real = v8.setFlagsFromString;
v8.setFlagsFromString = (flags) => { set.push(flags); real(flags); };
(await import(process.argv[1])).capHeapGrowthWhenLarge();
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 50)); } };
const steps = {};
await settle();
steps.small = set.splice(0);
let live = [];
for (let k = 0; k < 100 * 16; k++) live.push(new Array(8192).fill(k + 0.5)); // ~100 MB
await settle();
steps.large = set.splice(0);
steps.held = live.length;
live = null;
await settle();
steps.smallAgain = set.splice(0);
process.stdout.write(JSON.stringify(steps));
`;

describe('heap growth policy', () => {
  it('leaves at least the minimum room: V8 own factor on small heaps, never more than 30 % on large ones', () => {
    expect(heapGrowingPercent(MIN_ROOM_BYTES / 2)).toBe(0);
    expect(heapGrowingPercent(MIN_ROOM_BYTES)).toBe(0);
    expect(heapGrowingPercent(MIN_ROOM_BYTES * 2)).toBe(50);
    expect(heapGrowingPercent(MIN_ROOM_BYTES * 10)).toBe(30);
  });

  it('adds the young generation to the room (V8 starts marking once less than that is left)', () => {
    const young = 16 * 1024 * 1024;
    expect(heapGrowingPercent(MIN_ROOM_BYTES * 2, young)).toBe(0); // 32 MB of room on 32 MB live: V8's own
    expect(heapGrowingPercent(66 * 1024 * 1024, young)).toBe(49); // 32 MB of room on 66 MB live
    expect(heapGrowingPercent(200 * 1024 * 1024, young)).toBe(30);
  });

  it('sets the cap after a full collection leaves a large heap, and lifts it when the heap is small again', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD, policy], { encoding: 'utf8', timeout: 60_000 });
    const steps = JSON.parse(out) as { small: string[]; large: string[]; smallAgain: string[]; held: number };
    expect(steps.held).toBe(1600);
    expect(steps.small).toEqual([]); // a fresh process: V8's own growth, nothing to change
    // ~100 MB live beside a young generation of up to 16 MB: 30-33 %, V8's own factor would be 0.
    const capped = /^--heap-growing-percent=(\d+)$/.exec(steps.large.at(-1) ?? '');
    expect(Number(capped?.[1])).toBeGreaterThanOrEqual(30);
    expect(Number(capped?.[1])).toBeLessThanOrEqual(33);
    expect(steps.smallAgain.at(-1)).toBe('--heap-growing-percent=0');
  });

  it('collects once when the transfers start on a large heap, and not at all on a small one', () => {
    // argv[2]: megabytes to hold and drop before the first call. Prints used heap (MB) around the calls.
    const child = `
      import v8 from 'node:v8';
      const { collectOnceAfterSetup } = await import(process.argv[1]);
      let held = [];
      for (let k = 0; k < Number(process.argv[2]) * 16; k++) held.push(new Array(8192).fill(k + 0.5));
      held = null;
      const used = () => Math.round(v8.getHeapStatistics().used_heap_size / 1048576);
      const before = used();
      collectOnceAfterSetup();
      const after = used();
      const flagged = globalThis[Symbol.for('flowsync.v8FlagsChanged')] === true;
      process.stdout.write(JSON.stringify({ before, after, flagged, gcExposed: typeof globalThis.gc }));
    `;
    const run = (mb: number) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', child, policy, String(mb)], { encoding: 'utf8', timeout: 60_000 })) as { before: number; after: number; flagged: boolean };
    const large = run(80);
    expect(large.before).toBeGreaterThanOrEqual(48);
    expect(large.after).toBeLessThan(large.before / 2);
    expect(large.flagged).toBe(true); // the launcher then saves no code cache made under other flags
    const small = run(0);
    expect(small.flagged).toBe(false);
  });
});

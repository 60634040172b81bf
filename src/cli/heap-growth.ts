/**
 * How far the CLI lets V8's old generation grow between full collections.
 *
 * The command line holds one entry per file (100k of them on big trees) while it sends thousands
 * of requests whose short-lived objects the young generation promotes. V8 then lets the old
 * generation grow to 3-4x what survived the last full collection before it collects again (a
 * 100k-file pull from s3rver: ~95 MB live, heap up to 340 MB). Capped at 1.3x (V8's own factor
 * for memory-constrained heaps) that pull peaked at ~300 MB RSS instead of 530 MB, for a few
 * more full collections (at 20k files: ~0.3 s more GC pauses in a 20 s pull).
 *
 * The cap only pays on a large heap. On a small one it costs: with ~9 MB live, 1.3x leaves a
 * couple of MB of room, so a 1 GiB download (16,000 socket buffers, each with a few objects that
 * get promoted) ran 54 full collections instead of 1 and spent 0.4-0.8 s more CPU (three A/B
 * pairs from s3rver: 2.5-2.9 s user against 1.7-2.1 s). So after each full collection the growth
 * for the next is set from what survived: never less room than MIN_ROOM_BYTES (V8's own factor
 * while that is more than doubling), never more than 30 % once the heap is large. V8 reads the
 * flag at every full collection, so a change applies from the next one. Only the CLI does this:
 * a program using the library keeps its own heap settings.
 *
 * The room counts the young generation on top: V8 starts marking once the old generation's room
 * left is below the young generation's capacity (a scavenge could promote that much), so a room
 * of 16 MB beside a 16 MB young generation left none, and marking ran almost without pause. A
 * 100,000-file pull from the local store spent 40 s of CPU in 393 full collections (one every
 * ~7 MB promoted); with the young generation added, 26 s in 151 (the same peak RSS, 267 MB).
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The least the old generation may grow between two full collections. */
export const MIN_ROOM_BYTES = 16 * 1024 * 1024;
const CAPPED_PERCENT = 30;

/**
 * The --heap-growing-percent after a full collection left `liveBytes` alive, beside a young
 * generation of `youngBytes`; 0 = V8's own, dynamic factor.
 */
export function heapGrowingPercent(liveBytes: number, youngBytes = 0): number {
  const percent = Math.ceil(((MIN_ROOM_BYTES + youngBytes) / Math.max(1, liveBytes)) * 100);
  return percent >= 100 ? 0 : Math.max(CAPPED_PERCENT, percent);
}

/**
 * Set on the global object once a flag was changed: V8 stamps a code cache with the flags in
 * force, so the CLI's launcher (launcher.ts) must not save one made after this.
 */
export const V8_FLAGS_CHANGED = Symbol.for('flowsync.v8FlagsChanged');

/** What one semi-space of the young generation holds now (V8 grows it up to 16 MB on 64-bit). */
function youngCapacity(): number {
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return young ? young.space_used_size + young.space_available_size : 0;
}

/** Watch full collections and set the growth for the next one. The observer holds no handle: the process still exits on its own. */
export function capHeapGrowthWhenLarge(): void {
  let current = 0;
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (!major) return;
    const wanted = heapGrowingPercent(v8.getHeapStatistics().used_heap_size, youngCapacity());
    if (wanted === current) return;
    v8.setFlagsFromString(`--heap-growing-percent=${wanted}`);
    (globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED] = true;
    current = wanted;
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** A heap this large when the transfers start holds the garbage of reading and planning. */
const SETUP_GARBAGE_BYTES = 48 * 1024 * 1024;
let collectedAfterSetup = false;

/**
 * One full collection when a command's transfers start, if the heap is large by then. Until
 * V8 has sized the old generation from what survives, its limit is the initial one, far above
 * what a command keeps; with nothing else to trigger a collection, the manifest's parse and
 * the plan's garbage stayed until the heap reached ~140 MB (a 100,000-file pull from the local
 * store: peak RSS 279 MB; with this collection 240 MB, and no slower).
 */
export function collectOnceAfterSetup(): void {
  if (collectedAfterSetup) return;
  collectedAfterSetup = true;
  if (v8.getHeapStatistics().used_heap_size < SETUP_GARBAGE_BYTES) return;
  v8.setFlagsFromString('--expose-gc');
  (globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED] = true;
  // The flag gives `gc` to contexts made after it is set.
  (vm.runInNewContext('gc') as () => void)();
}

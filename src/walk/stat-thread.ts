/**
 * lstat on a worker thread, for big walks. A no-change push of 100k files spent a third of its
 * time in lstat (≈ 4 µs a file here, all of it in the kernel) while the main thread's own work
 * per file (readdir, ignore rules, stat cache, manifest entry) waited; with the calls on a second
 * thread the two overlap. Paths go over in batches, the numbers come back in one Float64Array
 * per batch, answered in the order asked.
 *
 * The worker's code is a string (as hash-threads.ts): it needs only node:fs. If no worker can be
 * started, or one dies, callers get null and lstat on their own thread: never a dependency.
 */
import { Worker } from 'node:worker_threads';

/** What the walk needs of a file's lstat (fs.Stats has these too). */
export interface FileStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
}

/** Numbers per path: size, mtimeMs, ctimeMs, ino, mode, outcome. */
export const STAT_FIELDS = 6;
/** Outcome slot: the file was stat'ed; it is gone (ENOENT); any other failure (ask again to get the error). */
export const STAT_OK = 0;
export const STAT_GONE = 1;
export const STAT_FAILED = 2;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, paths }) => {
  const out = new Float64Array(paths.length * ${STAT_FIELDS});
  for (let i = 0; i < paths.length; i++) {
    const k = i * ${STAT_FIELDS};
    let st;
    try {
      st = fs.lstatSync(paths[i], { throwIfNoEntry: false });
    } catch {
      out[k + 5] = ${STAT_FAILED};
      continue;
    }
    if (st === undefined) {
      out[k + 5] = ${STAT_GONE};
      continue;
    }
    out[k] = st.size; out[k + 1] = st.mtimeMs; out[k + 2] = st.ctimeMs; out[k + 3] = st.ino; out[k + 4] = st.mode;
  }
  parentPort.postMessage({ id, stats: out }, [out.buffer]);
});
`;

type Waiting = { id: number; resolve: (stats: Float64Array | null) => void };

export class StatThread {
  private readonly waiting: Waiting[] = [];
  private nextId = 1;
  private dead = false;
  /** The worker runs (until then the caller stats files itself rather than wait for it). */
  online = false;

  private constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on('online', () => {
      this.online = true;
    });
    worker.on('message', (m: { id: number; stats: Float64Array }) => {
      const w = this.waiting.shift();
      if (w && w.id === m.id) w.resolve(m.stats);
      if (this.waiting.length === 0) worker.unref();
    });
    const fail = () => this.failAll();
    worker.on('error', fail);
    worker.on('exit', fail);
  }

  /** A started thread, or null when none can start (the caller stats on its own thread). */
  static start(): StatThread | null {
    try {
      return new StatThread(new Worker(WORKER_SOURCE, { eval: true }));
    } catch {
      return null;
    }
  }

  /** The numbers for `paths` (STAT_FIELDS each), or null when the thread is gone. */
  stat(paths: string[]): Promise<Float64Array | null> {
    if (this.dead) return Promise.resolve(null);
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.waiting.push({ id, resolve });
      this.worker.ref(); // a batch in flight keeps the process alive; an idle thread does not
      this.worker.postMessage({ id, paths });
    });
  }

  /** Stop the thread; batches still in flight resolve to null. */
  close(): void {
    void this.worker.terminate().catch(() => {});
    this.failAll();
  }

  private failAll(): void {
    this.dead = true;
    for (const w of this.waiting.splice(0)) w.resolve(null);
  }
}

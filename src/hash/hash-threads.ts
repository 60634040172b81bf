/**
 * sha256 of large files on worker threads, so hashing them runs beside the main thread, which
 * places small files, answers HTTP and writes output. A pull from a warm cache hashes
 * every hit (content-cache.ts): on the main thread the few big files of a tree were hashed
 * last, one after another, once the small files let the event loop breathe (200 ms of a
 * 650 ms pull of 5,000 files here); on a worker they hash while the small files are placed.
 *
 * The worker's code is a string evaluated by the Worker (it needs only node:fs and
 * node:crypto): the same code then runs from the compiled library, the CLI bundle and the test
 * runner's sources, with no worker file to locate or bundle. Each worker reads one file at a
 * time with synchronous reads into one 1 MiB buffer and checks a shared cancel slot between
 * reads, so an aborted job stops within a read.
 *
 * If no worker can be started (a runtime without worker threads, a worker that died), callers
 * get null and hash on their own thread: this is a speed-up, never a dependency.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { abortError } from '../errors.js';
import type { StatIdentity } from './identity.js';

/** What a worker saw: the file's identity before and after its read, the bytes it read, their hash. */
export interface ThreadHash {
  before: StatIdentity;
  after: StatIdentity;
  bytesRead: number;
  sha256: string;
}

/**
 * Workers start once this many bytes of large files were asked for: a worker takes ~40 ms to
 * start here (≈ 50 MB of hashing), so a push that changed one 5 MB file hashes it on its own
 * thread, while a scan of a few hundred MB gets the workers after its first files.
 */
const START_AFTER_BYTES = 64 * 1024 * 1024;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const cancel = new Int32Array(workerData.cancel);
const buf = Buffer.allocUnsafe(1024 * 1024);
const ident = (s) => ({ size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino });
parentPort.on('message', ({ id, file }) => {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const before = fs.fstatSync(fd);
    const hash = createHash('sha256');
    let pos = 0;
    for (;;) {
      if (Atomics.load(cancel, 0) === id) return parentPort.postMessage({ id, aborted: true });
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    const after = fs.fstatSync(fd);
    parentPort.postMessage({ id, result: { before: ident(before), after: ident(after), bytesRead: pos, sha256: hash.digest('hex') } });
  } catch (err) {
    parentPort.postMessage({ id, error: { message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, path: err.path } });
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
  }
});
`;

interface Job {
  id: number;
  file: string;
  resolve: (r: ThreadHash | null) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

type Reply = { id: number; aborted?: true; result?: ThreadHash; error?: { message: string; code?: string; errno?: number; syscall?: string; path?: string } };

class HashThread {
  readonly worker: Worker;
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  /** The job it works on (set on the main thread when posted, cleared when answered). */
  job: Job | null = null;

  constructor(private readonly onIdle: (t: HashThread) => void, onDead: (t: HashThread) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { cancel: this.cancel.buffer } });
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.answer(m));
    this.worker.on('error', () => onDead(this));
    this.worker.on('exit', () => onDead(this));
  }

  start(job: Job): void {
    this.job = job;
    this.worker.ref(); // a job in flight keeps the process alive; an idle worker does not
    this.worker.postMessage({ id: job.id, file: job.file });
  }

  stop(id: number): void {
    if (this.job?.id === id) Atomics.store(this.cancel, 0, id);
  }

  private answer(m: Reply): void {
    const job = this.job;
    if (!job || job.id !== m.id) return;
    this.job = null;
    this.worker.unref();
    job.signal?.removeEventListener('abort', job.onAbort);
    // After an abort the promise is settled already: these calls then do nothing.
    if (m.result) job.resolve(m.result);
    else if (m.error) job.reject(Object.assign(new Error(m.error.message), m.error));
    else job.reject(abortError(job.signal));
    this.onIdle(this);
  }
}

class HashThreads {
  private readonly idle: HashThread[] = [];
  private readonly all = new Set<HashThread>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private broken = false;
  /** Bytes of large files asked for before any worker started (hashed by the callers). */
  private before = 0;

  constructor(private readonly size: number) {}

  /** The file's hash from a worker; null when no worker can take it (hash it yourself). */
  async hash(file: string, size: number, signal?: AbortSignal): Promise<ThreadHash | null> {
    if (signal?.aborted) throw abortError(signal);
    if (this.broken) return null;
    if (this.all.size === 0) {
      this.before += size;
      if (this.before < START_AFTER_BYTES) return null;
    }
    const thread = this.idle.pop() ?? this.spawn();
    if (thread === null && this.all.size === 0) return null;
    return new Promise<ThreadHash | null>((resolve, reject) => {
      const job: Job = { id: this.nextId++, file, resolve, reject, signal, onAbort: () => this.abort(job) };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      if (thread) thread.start(job);
      else this.queue.push(job);
    });
  }

  private spawn(): HashThread | null {
    if (this.all.size >= this.size) return null;
    try {
      const t = new HashThread(
        (idle) => this.next(idle),
        (dead) => this.lost(dead),
      );
      this.all.add(t);
      return t;
    } catch {
      this.broken = true;
      return null;
    }
  }

  private next(thread: HashThread): void {
    const job = this.queue.shift();
    if (job) thread.start(job);
    else this.idle.push(thread);
  }

  /** The caller hears of the abort at once; a worker on the job stops at its next read, then takes the next one. */
  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    else for (const t of this.all) t.stop(job.id);
    job.reject(abortError(job.signal));
  }

  /** A worker died: its job (and the queue, once none is left) go back to be hashed by their callers; no new workers. */
  private lost(thread: HashThread): void {
    if (!this.all.delete(thread)) return;
    this.broken = true;
    const idleAt = this.idle.indexOf(thread);
    if (idleAt >= 0) this.idle.splice(idleAt, 1);
    const jobs = [...(thread.job ? [thread.job] : []), ...(this.all.size === 0 ? this.queue.splice(0) : [])];
    thread.job = null;
    for (const job of jobs) {
      job.signal?.removeEventListener('abort', job.onAbort);
      job.resolve(null);
    }
  }
}

let threads: HashThreads | null = null;

/**
 * Hash `file` (of `size` bytes, as last seen) on a worker thread. Null when no worker takes it
 * (none started yet, or none can start): the caller hashes the file itself. One worker per
 * core, at most four, started once there is enough to hash: while a scan
 * hashes, the main thread mostly waits (two workers on 2 cores hashed 8 × 64 MiB in 0.31 s,
 * one in 0.51 s), and during a pull the kernel's file work shares the cores anyway.
 */
export function hashOnThread(file: string, size: number, signal?: AbortSignal): Promise<ThreadHash | null> {
  threads ??= new HashThreads(Math.min(4, os.availableParallelism()));
  return threads.hash(file, size, signal);
}

/**
 * The mirror layout's write lease (DESIGN §5.1): one push at a time per remote. A push creates
 * `<prefix>/.flowsync/lease.json` with a conditional write (create only if absent), renews it
 * while it runs and removes it at its end. A second push fails fast, before writing any object,
 * naming the holder and when the lease expires. An expired lease, or one whose holder is provably
 * dead on this host, is taken over with a warning; `breakLease` takes any lease over.
 *
 * Where the store cannot make a write conditional (s3rver), the lease is best-effort: checked
 * before it is written and read back after, which narrows the race but cannot close it.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { leaseKey } from '../backends/keys.js';
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { processAlive } from '../util/process-alive.js';
import { collect } from '../util/streams.js';

const FORMAT = 'flowsync-lease';
export const DEFAULT_LEASE_TTL_MS = 60_000;
const LEASE_MAX_BYTES = 64 * 1024;

export interface LeaseHolder {
  host: string;
  pid: number;
  startedAt: string;
  expiresAt: string;
  /** Random per lease: how a holder recognises its own lease. */
  token: string;
}

export interface FoundLease {
  /** null when the stored lease is unreadable (it names no holder, so it cannot be live). */
  holder: LeaseHolder | null;
  etag?: string;
  /** Why the lease could not be read, when holder is null. */
  damaged?: string;
}

export interface LeaseOptions {
  ttlMs?: number;
  /** Take over a live lease too (`push --break-lease`). */
  breakLease?: boolean;
  warn?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * When a look of the caller's found no lease (a push looks beside its manifest request). A
   * write within RECENT_LOOK_MS of it skips its own look: on a store that enforces
   * create-if-absent the write is the check anyway, and elsewhere that look only narrowed the
   * window by one round trip.
   */
  absentSince?: number;
}

const RECENT_LOOK_MS = 1000;

export interface HeldLease {
  holder: LeaseHolder;
  /** The lease found and taken over (expired, dead holder, damaged, or broken explicitly), if any. */
  tookOver: FoundLease | null;
  /** Aborted when the lease is lost (taken over by someone else, or not renewed before expiry). */
  lost: AbortSignal;
  /** Stop renewing and remove the lease (only if it is still ours). */
  release(): Promise<void>;
  /** Stop renewing and leave the lease in place, expired: the next push takes it over and heals. */
  abandon(): Promise<void>;
}

/** The stored lease, or null when there is none. (Each request is retried by the remote's retry decorator.) */
export async function readLease(remote: Remote, signal?: AbortSignal): Promise<FoundLease | null> {
  const key = leaseKey(remote.prefix);
  const info = await remote.backend.stat(key, { signal });
  if (!info) return null;
  const etag = info.etag ? { etag: info.etag } : {};
  if (info.size > LEASE_MAX_BYTES) return { holder: null, ...etag, damaged: `it is ${info.size} bytes` };
  let bytes: Buffer;
  try {
    bytes = await collect(await remote.backend.read(key, { signal }), signal);
  } catch (err) {
    if (isFlowsyncError(err, 'NOT_FOUND')) return null; // released between stat and read
    throw err;
  }
  return { ...parseLease(bytes), ...etag };
}

function parseLease(bytes: Uint8Array): { holder: LeaseHolder | null; damaged?: string } {
  let raw: unknown;
  try {
    raw = parseBoundedJson(bytes, { what: 'the lease', maxBytes: LEASE_MAX_BYTES, maxDepth: 4, code: 'BAD_MANIFEST', fix: '' });
  } catch (err) {
    return { holder: null, damaged: (err as Error).message.trim() };
  }
  const o = raw as Partial<Record<keyof LeaseHolder | 'format', unknown>> | null;
  const valid =
    typeof o === 'object' && o !== null && o.format === FORMAT && typeof o.host === 'string' && o.host.length <= 255 &&
    typeof o.pid === 'number' && Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.token === 'string' && o.token.length <= 64 &&
    typeof o.startedAt === 'string' && typeof o.expiresAt === 'string' && !Number.isNaN(Date.parse(o.expiresAt));
  if (!valid) return { holder: null, damaged: 'it is not a flowsync lease' };
  return { holder: { host: o.host as string, pid: o.pid as number, startedAt: o.startedAt as string, expiresAt: o.expiresAt as string, token: o.token as string } };
}

/** Why the lease cannot be live (expired, holder dead on this host, unreadable), or null when it may be. */
export function whyNotLive(found: FoundLease, now = Date.now()): string | null {
  const h = found.holder;
  if (!h) return `the lease is unreadable (${found.damaged ?? 'damaged'})`;
  if (Date.parse(h.expiresAt) <= now) return `the lease of ${describeHolder(h)} expired at ${h.expiresAt}`;
  if (h.host === os.hostname() && h.pid !== process.pid && !processAlive(h.pid)) return `${describeHolder(h)} no longer runs`;
  return null;
}

export function describeHolder(h: LeaseHolder): string {
  return `the push of process ${h.pid} on ${h.host} (started ${h.startedAt})`;
}

function leaseBytes(h: LeaseHolder): Buffer {
  return Buffer.from(JSON.stringify({ format: FORMAT, version: 1, ...h }) + '\n', 'utf8');
}

/** Write the lease: create-if-absent, or replace the version `ifMatch`. Returns the new tag. */
async function writeLease(remote: Remote, h: LeaseHolder, ifMatch: string | 'absent' | undefined, signal?: AbortSignal): Promise<string | undefined> {
  const bytes = leaseBytes(h);
  const { backend } = remote;
  const condition = !backend.features.conditionalWrite || ifMatch === undefined ? {} : ifMatch === 'absent' ? { ifNoneMatch: '*' as const } : { ifMatch };
  try {
    const info = await backend.write(leaseKey(remote.prefix), bytes, { size: bytes.length, contentType: 'application/json', ...condition }, { signal });
    return info.etag;
  } catch (err) {
    if (!isFlowsyncError(err, 'PRECONDITION_FAILED')) throw err;
    // A retried write whose first reply was lost finds its own lease: that is a success.
    const now = await readLease(remote, signal);
    if (now?.holder?.token === h.token) return now.etag;
    throw err;
  }
}

function heldError(remote: Remote, h: LeaseHolder): FlowsyncError {
  return new FlowsyncError(
    'LOCKED',
    `${remote.url} is being written by ${describeHolder(h)}; its lease expires at ${h.expiresAt}. Nothing was written. Wait for that push to finish and push again, or, if it is gone, push with --break-lease.`,
  );
}

export async function acquireLease(remote: Remote, o: LeaseOptions = {}): Promise<HeldLease> {
  const ttl = o.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const started = new Date();
  const holder: LeaseHolder = {
    host: os.hostname(),
    pid: process.pid,
    startedAt: started.toISOString(),
    expiresAt: new Date(started.getTime() + ttl).toISOString(),
    token: randomBytes(12).toString('hex'),
  };
  const conditional = remote.backend.features.conditionalWrite;
  let tookOver: FoundLease | null = null;
  let etag: string | undefined;
  const looked = o.absentSince !== undefined && Date.now() - o.absentSince < RECENT_LOOK_MS;
  for (let attempt = 0; ; attempt++) {
    const found = attempt === 0 && looked ? null : await readLease(remote, o.signal);
    if (found) {
      const reason = whyNotLive(found);
      if (reason === null && !o.breakLease) throw heldError(remote, found.holder!);
      o.warn?.(`Taking over the write lease of ${remote.url}: ${reason ?? `--break-lease given (it was held by ${describeHolder(found.holder!)})`}. The objects it may have left half-written are checked and repaired.`);
      tookOver = found;
    }
    try {
      etag = await writeLease(remote, holder, found ? (found.etag ?? undefined) : 'absent', o.signal);
      break;
    } catch (err) {
      // Someone else created or took over the lease between our read and our write: look again (once).
      if (!isFlowsyncError(err, 'PRECONDITION_FAILED') || attempt >= 1) {
        if (isFlowsyncError(err, 'PRECONDITION_FAILED')) {
          const now = await readLease(remote, o.signal);
          if (now?.holder) throw heldError(remote, now.holder);
        }
        throw err;
      }
    }
  }
  if (!conditional) {
    // Best effort without conditional writes: whoever wrote last owns it; make sure that is us.
    const back = await readLease(remote, o.signal);
    if (back?.holder && back.holder.token !== holder.token) throw heldError(remote, back.holder);
    etag = back?.etag;
  }
  return startRenewal(remote, holder, etag, tookOver, ttl, o.signal);
}

function startRenewal(remote: Remote, holder: LeaseHolder, firstEtag: string | undefined, tookOver: FoundLease | null, ttl: number, signal?: AbortSignal): HeldLease {
  const lost = new AbortController();
  let etag = firstEtag;
  let stopped = false;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    if (stopped) return;
    const next = { ...holder, expiresAt: new Date(Date.now() + ttl).toISOString() };
    try {
      let ifMatch = etag;
      if (!remote.backend.features.conditionalWrite) {
        const now = await readLease(remote, signal);
        if (now?.holder?.token !== holder.token) throw new FlowsyncError('PRECONDITION_FAILED', 'lease replaced');
        ifMatch = undefined;
      }
      etag = await writeLease(remote, next, ifMatch, signal);
      holder.expiresAt = next.expiresAt;
    } catch (err) {
      if (stopped) return;
      if (isFlowsyncError(err, 'PRECONDITION_FAILED')) {
        const now = await readLease(remote, signal).catch(() => null);
        lost.abort(
          new FlowsyncError(
            'LOCKED',
            `The write lease of ${remote.url} was taken over${now?.holder ? ` by ${describeHolder(now.holder)}` : ''} while this push ran, so it stopped before writing its manifest. Objects it uploaded may disagree with the manifest in force: run flowsync push --repair from the folder whose version should be live.`,
          ),
        );
      } else if (Date.parse(holder.expiresAt) <= Date.now()) {
        lost.abort(new FlowsyncError('LOCKED', `The write lease of ${remote.url} could not be renewed before it expired (${(err as Error).message}); this push stopped before writing its manifest. Push again.`, { cause: err }));
      }
      // Otherwise: a transient failure; the next tick tries again while the lease is still valid.
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, Math.max(50, Math.floor(ttl / 4)));
  timer.unref();
  const stop = async () => {
    stopped = true;
    clearInterval(timer);
    await renewing;
  };
  return {
    holder,
    tookOver,
    lost: lost.signal,
    async release() {
      await stop();
      // Remove it only while it is still ours (the store has no conditional delete: the gap
      // between this look and the delete is the only window, and it is milliseconds). The tag of
      // our own last write says so without reading the lease back.
      const key = leaseKey(remote.prefix);
      const info = await remote.backend.stat(key).catch(() => null);
      if (!info) return;
      const ours = (etag !== undefined && info.etag === etag) || (await readLease(remote).catch(() => null))?.holder?.token === holder.token;
      if (ours) await remote.backend.delete([key]);
    },
    async abandon() {
      await stop();
      // Leave an expired lease as the marker "objects may disagree": over our own lease, or in
      // place of none (ours was broken and then released). Another push's live lease stays.
      const now = await readLease(remote).catch(() => null);
      if (now?.holder && now.holder.token !== holder.token && whyNotLive(now) === null) return;
      const expired = { ...holder, expiresAt: new Date(0).toISOString() };
      const condition = !remote.backend.features.conditionalWrite ? undefined : now ? now.etag : 'absent';
      await writeLease(remote, expired, condition).catch(() => {});
    },
  };
}

/**
 * Patient pulls (DESIGN §5.1). In the mirror layout a push replaces objects in place, so a pull
 * that runs during a push meets objects that disagree with the manifest it read. While a push
 * holds the lease, the pull waits for it (bounded) and starts over from the new manifest;
 * without a live lease the remote is damaged, and the error names `push --repair`.
 */
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { sleep } from '../backends/retrying.js';
import { describeHolder, readLease, whyNotLive } from './lease.js';
import { missingFilesError, type MissingFile } from './pull-execute.js';

export const DEFAULT_PULL_WAIT_MS = 2 * 60_000;
const POLL_MS = 500;

export type FileFailure = MissingFile;

/** A pull attempt that placed what it could; `failures` are the files it could not. */
export class PullIncomplete extends Error {
  constructor(
    readonly failures: FileFailure[],
    /** Id of the manifest the attempt pulled (null: a prefix without one). */
    readonly manifest: string | null,
  ) {
    super(`${failures.length} file(s) could not be pulled`);
  }
}

const disagrees = (f: FileFailure) => isFlowsyncError(f.error, 'CHECKSUM_MISMATCH') || isFlowsyncError(f.error, 'NOT_FOUND');

export interface WaitOptions {
  /** The destination, for messages. */
  dir: string;
  deadline: number;
  /** The id of the manifest in force now. */
  currentManifest: () => Promise<string | null>;
  /** Whether an attempt without a live lease was already repeated once. */
  retriedWithoutLease: boolean;
  info: (m: string) => void;
  signal?: AbortSignal;
}

/**
 * Decide after an attempt that met objects disagreeing with its manifest. Resolves when the pull
 * should start over: 'waited' (a push held the lease and has finished, or its lease ended), or
 * 'retry' (no push runs, but the manifest changed meanwhile, or this is the one repeat allowed for
 * a transfer that went wrong). Throws the final error otherwise.
 */
export async function waitOrFail(remote: Remote, failed: PullIncomplete, o: WaitOptions): Promise<'waited' | 'retry'> {
  const drifted = failed.failures.filter(disagrees);
  let lease = await readLease(remote, o.signal);
  if (!lease || whyNotLive(lease) !== null) {
    // A push that finished meanwhile committed a new manifest: the objects agree with that one.
    if (Date.now() < o.deadline && (await o.currentManifest()) !== failed.manifest) return 'retry';
    if (!o.retriedWithoutLease) return 'retry';
    throw finalError(o.dir, failed.failures, `${drifted.length} of them disagree with the manifest (wrong bytes, or no object) and no push holds the write lease, so the remote itself is damaged (an interrupted push, or another tool wrote there). From the source folder, run: flowsync push <dir> ${remote.url} --repair`);
  }
  const first = lease.holder!;
  o.info(`${drifted.length} object(s) under ${remote.url} are being replaced by ${describeHolder(first)}: waiting for it (lease until ${first.expiresAt}).`);
  while (lease && whyNotLive(lease) === null && lease.holder!.token === first.token) {
    if (Date.now() >= o.deadline) {
      throw finalError(o.dir, failed.failures, `${describeHolder(first)} still holds the write lease. Pull again once it is done, or give --wait a longer time.`);
    }
    await sleep(Math.min(POLL_MS, Math.max(0, o.deadline - Date.now())), o.signal);
    lease = await readLease(remote, o.signal);
  }
  return 'waited';
}

function finalError(dir: string, failures: FileFailure[], fix: string): FlowsyncError {
  return missingFilesError(dir, failures, fix);
}

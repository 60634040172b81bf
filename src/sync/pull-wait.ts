/**
 * Patient pulls (DESIGN §5.1). In the mirror layout a push replaces objects in place, so a pull
 * that runs during a push meets objects that disagree with the manifest it read. While a push
 * holds the lease, the pull waits for it (bounded) and starts over from the new manifest;
 * without a live lease the remote is damaged, and the error names `push --repair`.
 */
import type { Remote } from '../backends/open.js';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { sleep } from '../transfer/retry.js';
import { describeHolder, readLease, whyNotLive } from './lease.js';

export const DEFAULT_PULL_WAIT_MS = 2 * 60_000;
const POLL_MS = 500;
const MAX_LISTED = 10;

export interface FileFailure {
  path: string;
  error: unknown;
}

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

/** Errors that concern one file's object (it may be mid-replacement), not the whole pull. */
export function isPerFileFailure(err: unknown): boolean {
  return isFlowsyncError(err, 'CHECKSUM_MISMATCH') || isFlowsyncError(err, 'NOT_FOUND') || isFlowsyncError(err, 'TRANSIENT') || isFlowsyncError(err, 'THROTTLED');
}

const disagrees = (f: FileFailure) => isFlowsyncError(f.error, 'CHECKSUM_MISMATCH') || isFlowsyncError(f.error, 'NOT_FOUND');

/**
 * Decide after an incomplete attempt: resolves when the pull should start over (a push held the
 * lease and has finished, or its lease ended), throws the final error otherwise.
 */
export async function waitOrFail(
  remote: Remote,
  failed: PullIncomplete,
  deadline: number,
  currentManifest: () => Promise<string | null>,
  info: (m: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const drifted = failed.failures.filter(disagrees);
  if (drifted.length === 0) throw finalError(remote, failed.failures, 'could not be downloaded');
  let lease = await readLease(remote, signal);
  if (!lease || whyNotLive(lease) !== null) {
    // A push that finished meanwhile committed a new manifest: the objects agree with that one.
    if (Date.now() < deadline && (await currentManifest()) !== failed.manifest) return;
    throw finalError(remote, drifted, 'disagree with the manifest', `No push holds the write lease, so the remote itself is damaged (an interrupted push, or another tool wrote there). From the source folder, run: flowsync push <dir> ${remote.url} --repair`);
  }
  const first = lease.holder!;
  info(`${drifted.length} object(s) under ${remote.url} are being replaced by ${describeHolder(first)}: waiting for it (lease until ${first.expiresAt}).`);
  while (lease && whyNotLive(lease) === null && lease.holder!.token === first.token) {
    if (Date.now() >= deadline) {
      throw finalError(remote, drifted, 'disagree with the manifest', `${describeHolder(first)} still holds the write lease. Pull again once it is done, or give --wait a longer time.`);
    }
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())), signal);
    lease = await readLease(remote, signal);
  }
}

function finalError(remote: Remote, failures: FileFailure[], what: string, fix?: string): FlowsyncError {
  const listed = failures
    .slice(0, MAX_LISTED)
    .map((f) => `  ${f.path}: ${(f.error as Error).message}`)
    .join('\n');
  const more = failures.length > MAX_LISTED ? `\n  ... and ${failures.length - MAX_LISTED} more` : '';
  const first = failures[0]?.error;
  const code = failures.every(disagrees) ? 'CHECKSUM_MISMATCH' : isFlowsyncError(first) ? first.code : 'TRANSIENT';
  return new FlowsyncError(code, `Pull from ${remote.url} is incomplete: ${failures.length} file(s) ${what}; every other file was placed.\n${listed}${more}\n${fix ?? 'Check the connection to the store and pull again.'}`, { cause: first });
}

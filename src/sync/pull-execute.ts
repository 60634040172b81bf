/**
 * Run a pull's plan in its phases: clear the way, download (a pool), fix exec bits, links,
 * deletes, forget. It decides nothing. A file whose download fails (after the transfer layer's
 * retries) does not stop the others: every other file still lands, and the failures come back
 * for the caller to report together. Anything else (a local error, an abort) stops the run.
 */
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import type { PullFile, PullPlan } from '../plan/pull-plan.js';
import { runPool } from '../util/pool.js';
import type { Progress } from '../util/progress.js';
import type { FetchInto, TreeWriter } from './tree-writer.js';

/** The run stopped early: objects disagree with the manifest while a push holds the lease. */
export class ObjectBeingReplaced extends Error {
  constructor(readonly missing: MissingFile[]) {
    super(`${missing.length} object(s) are being replaced by a push in progress`);
  }
}

export interface MissingFile {
  path: string;
  error: FlowsyncError;
}

export interface ExecuteOptions {
  writer: TreeWriter;
  /** How to bring down one file's bytes. */
  fetch: (t: PullFile) => FetchInto;
  concurrency: number;
  progress: Progress;
  /** Whether a push holds the remote's lease now; when it does, wrong bytes stop the run at once. */
  pushRunning?: () => Promise<boolean>;
  signal?: AbortSignal;
}

/** Codes that mean this file could not be had from the remote (the rest of the pull can go on). */
const PER_FILE: ReadonlySet<string> = new Set(['TRANSIENT', 'THROTTLED', 'CHECKSUM_MISMATCH', 'NOT_FOUND']);

export async function executePull(plan: PullPlan, o: ExecuteOptions): Promise<MissingFile[]> {
  const { writer, progress } = o;
  const missing: MissingFile[] = [];
  await writer.remove(plan.clear);
  progress.begin('download', plan.download.reduce((n, t) => n + t.size, 0), plan.download.length);
  await runPool(
    plan.download,
    o.concurrency,
    async (t, signal) => {
      try {
        await writer.download(t, o.fetch(t), signal);
      } catch (err) {
        if (signal.aborted || !isFlowsyncError(err) || !PER_FILE.has(err.code)) throw err;
        missing.push({ path: t.path, error: err });
        // A push is replacing objects: the rest would fail the same way; stop, wait, start over.
        if (err.code === 'CHECKSUM_MISMATCH' && (await o.pushRunning?.())) throw new ObjectBeingReplaced([...missing]);
      }
    },
    o.signal,
  );
  progress.end();
  for (const t of plan.chmod) await writer.chmod(t);
  for (const l of plan.link) await writer.link(l);
  const cleared = new Set(plan.clear);
  progress.begin('delete', 0, plan.delete.length);
  await writer.remove(plan.delete.filter((p) => !cleared.has(p)));
  progress.end();
  return missing.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const MAX_LISTED = 10;

/** One error for a pull that placed everything but these. */
export function missingFilesError(dir: string, missing: MissingFile[], fix = 'Re-run the pull to fetch the missing file(s).'): FlowsyncError {
  const listed = missing
    .slice(0, MAX_LISTED)
    .map((m) => `  ${m.path}: ${m.error.message}`)
    .join('\n');
  const more = missing.length > MAX_LISTED ? `\n  ... and ${missing.length - MAX_LISTED} more` : '';
  const codes = new Set(missing.map((m) => m.error.code));
  return new FlowsyncError(
    codes.size === 1 ? missing[0]!.error.code : 'TRANSIENT',
    `Pull into ${dir} is incomplete: ${missing.length} file(s) could not be downloaded; everything else was placed.\n${listed}${more}\n${fix}`,
    { cause: missing.length === 1 ? missing[0]!.error : new AggregateError(missing.map((m) => m.error)) },
  );
}

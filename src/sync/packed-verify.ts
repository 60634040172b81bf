/**
 * verify of a packed remote: every pack and blob the current version names must exist with its
 * size (one listing of packs/ and blobs/); `deep` reads every pack and blob and checks each
 * member's bytes against its sha256. Problems are reported per file, as for mirror.
 */
import { createHash } from 'node:crypto';
import type { Remote } from '../backends/open.js';
import type { ObjectInfo } from '../backends/types.js';
import { isFlowsyncError } from '../errors.js';
import { isLink } from '../manifest/types.js';
import { blobKey, blobsFolder, packKey, packsFolder } from '../pack/layout.js';
import { fetchPackRange } from '../pack/pack-io.js';
import { memberBytes } from '../pack/tar-pack.js';
import { planPackReads } from '../plan/pack-plan.js';
import { ByteBudget } from '../transfer/budget.js';
import { DEFAULT_MEMORY_BUDGET } from '../transfer/context.js';
import { runPool } from '../util/pool.js';
import type { Progress } from '../util/progress.js';
import type { CurrentVersion } from './packed-remote.js';
import type { VerifyOptions, VerifyProblem } from './types.js';

export async function verifyPackedObjects(remote: Remote, v: CurrentVersion, o: VerifyOptions, progress: Progress): Promise<VerifyProblem[]> {
  const objects = new Map<string, ObjectInfo>();
  for (const folder of [packsFolder(remote.prefix), blobsFolder(remote.prefix)]) {
    for await (const info of remote.backend.list(folder, { signal: o.signal })) objects.set(info.key, info);
  }
  const problems: VerifyProblem[] = [];
  const m = v.manifest;
  const badPacks = new Map<number, string>();
  for (const [i, p] of m.packs.entries()) {
    const info = objects.get(packKey(remote.prefix, p.sha256));
    if (!info) badPacks.set(i, `its pack ${p.sha256} is missing`);
    else if (info.size !== p.size) badPacks.set(i, `its pack ${p.sha256} has ${info.size} B, the version says ${p.size} B`);
  }
  const files = m.files.filter((e) => !isLink(e) && e.size > 0);
  const blobs = files.filter((e) => !isLink(e) && e.pack === undefined);
  for (const e of files) {
    if (isLink(e)) continue;
    if (e.pack !== undefined) {
      const why = badPacks.get(e.pack);
      if (why) problems.push({ path: e.path, where: 'remote', problem: why.includes('missing') ? 'missing' : 'size', detail: why });
      continue;
    }
    const info = objects.get(blobKey(remote.prefix, e.sha256));
    if (!info) problems.push({ path: e.path, where: 'remote', problem: 'missing', detail: `no blob ${e.sha256}` });
    else if (info.size !== e.size) problems.push({ path: e.path, where: 'remote', problem: 'size', detail: `blob has ${info.size} B, the version says ${e.size} B` });
  }
  if (!o.deep) return problems;

  const concurrency = o.concurrency ?? remote.backend.tuning.concurrency;
  const ctx = { backend: remote.backend, budget: new ByteBudget(DEFAULT_MEMORY_BUDGET), progress, partConcurrency: 1 };
  const wanted = files.flatMap((e) => (!isLink(e) && e.pack !== undefined && !badPacks.has(e.pack) ? [{ sha256: e.sha256, size: e.size, pack: m.packs[e.pack]!, offset: e.offset! }] : []));
  const pathsOf = new Map<string, string[]>();
  for (const e of files) if (!isLink(e)) pathsOf.set(e.sha256, [...(pathsOf.get(e.sha256) ?? []), e.path]);
  progress.begin('verify', 0, wanted.length + blobs.length);
  // Whole packs: every member is read and checked on its own.
  await runPool(planPackReads(wanted, { gapMax: Infinity, wholeFraction: 0 }), concurrency, async (read, signal) => {
    const got = await fetchPackRange(ctx, remote.prefix, read, signal);
    try {
      for (const mem of read.members) {
        try {
          memberBytes(got.bytes, got.start, mem, `pack ${read.pack.sha256}`);
        } catch (err) {
          if (!isFlowsyncError(err, 'CHECKSUM_MISMATCH')) throw err;
          for (const p of pathsOf.get(mem.sha256) ?? []) problems.push({ path: p, where: 'remote', problem: 'sha256', detail: err.message });
        }
        progress.advance(0, 1);
      }
    } finally {
      got.release();
    }
  }, o.signal);
  await runPool(blobs, concurrency, async (e, signal) => {
    if (isLink(e) || !objects.has(blobKey(remote.prefix, e.sha256))) return;
    const h = createHash('sha256');
    for await (const chunk of await remote.backend.read(blobKey(remote.prefix, e.sha256), { signal })) h.update(chunk as Buffer);
    const sha = h.digest('hex');
    if (sha !== e.sha256) problems.push({ path: e.path, where: 'remote', problem: 'sha256', detail: 'the blob does not hash to the version sha256' });
    progress.advance(0, 1);
  }, o.signal);
  progress.end();
  return problems;
}


/**
 * verify: check the remote objects (and optionally a local folder) against the manifest.
 * By default one listing is compared with the manifest: missing, drifted (size, stored sha256,
 * or a tag other than the committed one) and stray objects; `deep` also downloads and hashes
 * every object the listing vouched for.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { keyFor } from '../backends/keys.js';
import { FlowsyncError } from '../errors.js';
import { isFile, isLink, type ManifestEntry } from '../manifest/types.js';
import { findDrift } from '../plan/drift.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { releaseRemote, resolveRemote } from './open.js';
import { listObjects } from './heal.js';
import { parseCurrent } from './packed-remote.js';
import { verifyPackedObjects } from './packed-verify.js';
import { plainEntries } from '../manifest/packed.js';
import { fetchAnyManifest } from './remote-manifest.js';
import { scanTree } from './scan.js';
import type { VerifyOptions, VerifyProblem, VerifyReport } from './types.js';

export async function verify(o: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const progress = new Progress(o.onProgress);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    const any = await fetchAnyManifest(remote, o.signal);
    if (!any) {
      throw new FlowsyncError('NOT_FOUND', `${remote.url} has no flowsync manifest to verify against. Push to it first (or check the address).`);
    }
    if ('packed' in any) {
      const v = parseCurrent(remote, any.packed);
      const entries = plainEntries(v.manifest);
      const problems = await verifyPackedObjects(remote, v, o, progress);
      if (o.dir) problems.push(...(await compareLocal(path.resolve(o.dir), entries, o)));
      problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      return { ok: problems.length === 0, manifest: v.id, checked: entries.length, problems, durationMs: Date.now() - started };
    }
    const found = any;
    const files = found.manifest.files;
    const problems: VerifyProblem[] = [];
    // One listing shows drift without downloading: missing objects, other sizes, stored sha256
    // that differ, and tags other than the ones committed (objects replaced since the push).
    const listing = await listObjects(remote, o.signal);
    const fileEntries = files.filter(isFile);
    for (const d of findDrift(fileEntries, listing)) problems.push({ path: d.path, where: 'remote', problem: d.kind, detail: d.detail });
    const flagged = new Set(problems.map((p) => p.path));
    progress.begin('verify', 0, fileEntries.length);
    await runPool(
      fileEntries,
      o.concurrency ?? remote.backend.tuning.concurrency,
      async (e, signal) => {
        if (o.deep && !flagged.has(e.path)) {
          const key = keyFor(remote.prefix, e.path);
          // Retried by the remote's retry decorator, not here.
          const h = createHash('sha256');
          for await (const chunk of await remote.backend.read(key, { signal })) h.update(chunk as Buffer);
          const sha = h.digest('hex');
          if (sha !== e.sha256) problems.push({ path: e.path, where: 'remote', problem: 'drifted', detail: 'content does not hash to the manifest sha256' });
        }
        progress.advance(0, 1);
      },
      o.signal,
    );
    progress.end();
    if (o.dir) problems.push(...(await compareLocal(path.resolve(o.dir), files, o)));
    problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { ok: problems.length === 0, manifest: found.id, checked: files.length, problems, durationMs: Date.now() - started };
  } finally {
    await releaseRemote(remote, o.remote);
  }
}

async function compareLocal(dir: string, files: ManifestEntry[], o: VerifyOptions): Promise<VerifyProblem[]> {
  const scan = await scanTree({ dir, ...(o.signal ? { signal: o.signal } : {}), ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}) });
  const problems: VerifyProblem[] = [];
  const localByPath = new Map(scan.manifest.files.map((e) => [e.path, e]));
  for (const e of files) {
    const l = localByPath.get(e.path);
    localByPath.delete(e.path);
    if (!l) problems.push({ path: e.path, where: 'local', problem: 'missing', detail: 'not in the folder' });
    else if (isLink(e) || isLink(l)) {
      if (!isLink(e) || !isLink(l) || e.link !== l.link) problems.push({ path: e.path, where: 'local', problem: 'link', detail: 'link differs' });
    } else if (l.sha256 !== e.sha256) problems.push({ path: e.path, where: 'local', problem: 'sha256', detail: 'content differs' });
    else if (l.mode !== e.mode) problems.push({ path: e.path, where: 'local', problem: 'mode', detail: `mode ${l.mode.toString(8)}, manifest says ${e.mode.toString(8)}` });
  }
  for (const p of localByPath.keys()) problems.push({ path: p, where: 'local', problem: 'extra', detail: 'in the folder but not in the manifest' });
  return problems;
}

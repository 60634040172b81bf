/**
 * verify: check the remote objects (and optionally a local folder) against the manifest.
 * By default existence and size come from one listing, plus the stored sha256 where the
 * listing carries it; `deep` downloads and hashes every object.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { folderPrefix, keyFor } from '../backends/keys.js';
import type { ObjectInfo } from '../backends/types.js';
import { FlowsyncError } from '../errors.js';
import { isFile, isLink, type ManifestEntry } from '../manifest/types.js';
import { runPool } from '../util/pool.js';
import { Progress } from '../util/progress.js';
import { releaseRemote, resolveRemote } from './open.js';
import { fetchManifest } from './remote-manifest.js';
import { scanTree } from './scan.js';
import type { VerifyOptions, VerifyProblem, VerifyReport } from './types.js';

export async function verify(o: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const progress = new Progress(o.onProgress);
  const remote = await resolveRemote(o.remote, o.remoteOptions);
  try {
    const found = await fetchManifest(remote, o.signal);
    if (!found) {
      throw new FlowsyncError('NOT_FOUND', `${remote.url} has no flowsync manifest to verify against. Push to it first (or check the address).`);
    }
    const files = found.manifest.files;
    const problems: VerifyProblem[] = [];
    const objects = new Map<string, ObjectInfo>();
    for await (const info of remote.backend.list(folderPrefix(remote.prefix), { signal: o.signal })) objects.set(info.key, info);

    const fileEntries = files.filter(isFile);
    progress.begin('verify', 0, fileEntries.length);
    await runPool(
      fileEntries,
      o.concurrency ?? remote.backend.tuning.concurrency,
      async (e, signal) => {
        const key = keyFor(remote.prefix, e.path);
        const info = objects.get(key);
        if (!info) problems.push({ path: e.path, where: 'remote', problem: 'missing', detail: `no object at ${key}` });
        else if (info.size !== e.size) problems.push({ path: e.path, where: 'remote', problem: 'size', detail: `object has ${info.size} B, manifest says ${e.size} B` });
        else if (info.sha256 && info.sha256 !== e.sha256) problems.push({ path: e.path, where: 'remote', problem: 'sha256', detail: 'stored sha256 differs from the manifest' });
        else if (o.deep) {
          // Retried by the remote's retry decorator, not here.
          const h = createHash('sha256');
          for await (const chunk of await remote.backend.read(key, { signal })) h.update(chunk as Buffer);
          const sha = h.digest('hex');
          if (sha !== e.sha256) problems.push({ path: e.path, where: 'remote', problem: 'sha256', detail: 'content does not hash to the manifest sha256' });
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

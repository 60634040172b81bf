/**
 * Acceptance (issue 10): a push SIGKILLed at random moments (the built CLI, on the local store
 * and on s3rver) leaves objects replaced in place under the old manifest and its lease behind.
 * The next push from this machine, of the same tree or of the reverted one, finds the dead
 * holder's lease, takes it over, lists the prefix and re-uploads every object that disagrees;
 * a fresh pull then equals the source exactly. Covers the worst case: kill after objects
 * went up as v2, revert to v1, push again (the remote memo alone would say "nothing to do").
 * s3rver ignores conditional writes, so there the lease is the best-effort kind; the healing is
 * the same.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Backend } from '../../src/backends/s3/backend.js';
import type { Backend } from '../../src/backends/types.js';
import { createLocalBackend } from '../../src/backends/local.js';
import { pull } from '../../src/sync/pull.js';
import { push } from '../../src/sync/push.js';
import { verify } from '../../src/sync/verify.js';
import { compareTrees, excludeFlowsyncState, generateTree, prng } from '../helpers/tree.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { cliEnv, removeDir, requireBuiltCli, startCli, tempDir } from './support.js';

const BUCKET = 'killed';
const KILLS = 10;
let work = '';
let s3: S3rverServer;

beforeAll(async () => {
  requireBuiltCli();
  work = tempDir('kill-heal');
  s3 = await startS3rver({ buckets: [BUCKET] });
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  removeDir(work);
});

interface Target {
  name: string;
  remote: string;
  env: () => NodeJS.ProcessEnv;
  backend: () => Backend;
}

const TARGETS: Target[] = [
  { name: 'local', remote: '', env: () => ({}), backend: () => createLocalBackend({ root: path.join(work, 'local-store') }) },
  {
    name: 's3',
    remote: `s3://${BUCKET}/flows`,
    env: () => s3.env,
    backend: () => createS3Backend({ bucket: BUCKET, endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
  },
];

/** Overwrite every other file with a version marker. */
function setVersion(src: string, files: string[], version: number): void {
  for (const [i, p] of files.entries()) if (i % 2 === 0) fs.writeFileSync(path.join(src, p), `version ${version} of ${p}\n`);
}

describe.each(TARGETS)('SIGKILL during push on $name', (t) => {
  it(`${KILLS} kills at random moments: the next push (same or reverted tree) heals; a fresh pull equals the source`, async () => {
    const remote = t.remote || path.join(work, 'local-store');
    const src = path.join(work, t.name, 'src');
    const tree = await generateTree(src, { seed: 5, files: 250, maxFileBytes: 4096, links: false, ignored: false });
    const files = tree.kept;
    const cache = path.join(work, t.name, 'cache');
    const env = cliEnv(cache, t.env());
    const backend = t.backend();
    const rand = prng(99);
    let version = 1;
    setVersion(src, files, version);
    await push({ dir: src, remote, cacheDir: cache, remoteOptions: { backend } });
    let healedSomething = 0;
    try {
      for (let k = 0; k < KILLS; k++) {
        setVersion(src, files, version + 1);
        // Few transfers in flight, so the uploads take long enough to be cut at a random point.
        const { child, result } = startCli(['push', src, remote, '--quiet', '--concurrency', '2'], { env });
        // Kill once its lease exists and (on the local store, where it can be seen cheaply) its
        // first object is replaced, after a random part of the rest; at times before that.
        const leaseKey = t.name === 'local' ? '.flowsync/lease.json' : 'flows/.flowsync/lease.json';
        const marker = `version ${version + 1} of `;
        const started = () => t.name !== 'local' || files.some((p, i) => i % 2 === 0 && fs.readFileSync(path.join(remote, p), 'utf8').startsWith(marker));
        const exited = result.then(() => true);
        for (let i = 0; i < 400 && !(await Promise.race([exited, new Promise<false>((r) => setTimeout(() => r(false), 5))])); i++) {
          // (s3rver answers 500 now and then while an object is written in place: just look again.)
          if ((await backend.stat(leaseKey).catch(() => null)) && started()) break;
        }
        await new Promise((r) => setTimeout(r, rand() * (t.name === 'local' ? 60 : 250)));
        child.kill('SIGKILL');
        const r = await result;
        // Half the time the user reverts the change before pushing again (the worst case).
        const revert = k % 2 === 0;
        if (!revert) version++;
        else setVersion(src, files, version);
        const healed = await push({ dir: src, remote, cacheDir: cache, remoteOptions: { backend } });
        if (r.signal === 'SIGKILL' && (healed.repaired ?? 0) > 0) healedSomething++;
        const check = await verify({ remote, remoteOptions: { backend } });
        expect(check.problems, `kill ${k}`).toEqual([]);
        const dest = path.join(work, t.name, `dest-${k}`);
        await pull({ remote, dir: dest, remoteOptions: { backend } });
        expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState }), `kill ${k} (${revert ? 'reverted' : 'same'} tree)`).toEqual([]);
        expect(await backend.stat(leaseKey)).toBeNull();
        fs.rmSync(dest, { recursive: true, force: true });
      }
    } finally {
      await backend.close?.();
    }
    // The kills really landed mid-upload: some pushes had objects to repair.
    expect(healedSomething).toBeGreaterThan(0);
  }, 180_000);
});

/**
 * Acceptance (issue 10): push + pull rounds through a seeded fault-injecting proxy (resets after
 * forwarding, 500/503 with the store's own error bodies, truncated bodies, delays) in front of
 * s3rver and Azurite. A ~2,000-file tree of mostly tiny files plus two 20 MiB files; every round
 * changes some files (and one big file), pushes, checks that the manifest and the objects agree
 * (a direct, fault-free listing), pulls into the same folder and compares it with the source
 * byte for byte. 0 failed syncs, 0 bad bytes. Also: a lost reply to the conditional manifest
 * write (Azurite enforces it) is not taken for a lost race.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { createS3Backend } from '../../src/backends/s3/backend.js';
import type { Backend } from '../../src/backends/types.js';
import { pull } from '../../src/sync/pull.js';
import { push } from '../../src/sync/push.js';
import { verify } from '../../src/sync/verify.js';
import { startFaultProxy, type FaultProxy, type StoreDialect } from '../helpers/fault-proxy.js';
import { compareTrees, excludeFlowsyncState, generateTree, prng } from '../helpers/tree.js';
import { azuriteConnectionString, startAzurite, type AzuriteServer } from '../servers/azurite.js';
import { startS3rver, type S3rverServer } from '../servers/s3rver.js';
import { removeDir, tempDir } from './support.js';

const BUCKET = 'faults';
const FILES = 2000;
const BIG = 20 * 1024 * 1024;
const ROUNDS = 10;

let work = '';
let s3: S3rverServer;
let azurite: AzuriteServer;
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  work = tempDir('faults');
  [s3, azurite] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startAzurite({ containers: [BUCKET] })]);
}, 120_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all([s3?.stop(), azurite?.stop()]);
  removeDir(work);
});

function s3Backend(endpoint: string): Backend {
  return createS3Backend({ bucket: BUCKET, endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
}

function azureBackend(endpoint: string): Backend {
  return createAzureBackend({ container: BUCKET, connectionString: azuriteConnectionString(endpoint) });
}

interface Store {
  dialect: StoreDialect;
  port: () => number;
  /** A backend talking to `endpoint` (the proxy, or the server itself). */
  backend: (endpoint: string) => Backend;
  /** The endpoint as the backend wants it, for a server listening on `port`. */
  endpointFor: (port: number) => string;
  scheme: 's3' | 'az';
}

const STORES: Store[] = [
  { dialect: 's3', port: () => s3.port, backend: s3Backend, endpointFor: (p) => `http://127.0.0.1:${p}`, scheme: 's3' },
  { dialect: 'azure', port: () => azurite.port, backend: azureBackend, endpointFor: (p) => `http://127.0.0.1:${p}/devstoreaccount1`, scheme: 'az' },
];

/** Change `count` small files (and, on odd rounds, one big file) in a seeded way. */
function mutate(src: string, files: string[], round: number, count: number): void {
  const rand = prng(1000 + round);
  for (let i = 0; i < count; i++) {
    const p = files[Math.floor(rand() * files.length)]!;
    fs.writeFileSync(path.join(src, p), `round ${round} #${i} ${rand()}\n`);
  }
  if (round % 2 === 1) {
    const big = path.join(src, 'data', round % 4 === 1 ? 'big.bin' : 'big2.bin');
    const fd = fs.openSync(big, 'r+');
    fs.writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, Math.floor(rand() * (BIG - 65536)));
    fs.closeSync(fd);
  }
}

// The two stores run side by side: each is its own server process.
describe.concurrent.each(STORES)('fault proxy rounds on $dialect', (store) => {
  it(`${ROUNDS} push + pull rounds: no failed sync, no bad byte, manifest and objects agree`, async () => {
    const src = path.join(work, store.dialect, 'src');
    const dest = path.join(work, store.dialect, 'dest');
    const tree = await generateTree(src, { seed: 21, files: FILES, maxFileBytes: 2048, bigFileBytes: BIG, links: false, ignored: false });
    fs.writeFileSync(path.join(src, 'data', 'big2.bin'), randomBytes(BIG));
    const small = tree.kept.filter((p) => p !== tree.bigFile && !(p in tree.links));

    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: store.port() },
      dialect: store.dialect,
      seed: store.dialect === 's3' ? 7 : 8,
      rates: { reset: 0.01, error: 0.02, truncate: 0.01, delay: 0.03 },
    });
    proxies.push(proxy);
    const viaProxy = store.backend(store.endpointFor(proxy.port));
    const direct = store.backend(store.endpointFor(store.port()));
    const remote = `${store.scheme}://${BUCKET}/rounds`;
    const cacheDir = path.join(work, store.dialect, 'cache');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        if (round > 0) mutate(src, small, round, 15);
        const pushed = await push({ dir: src, remote, cacheDir, remoteOptions: { backend: viaProxy } });
        expect(pushed.uploaded, `round ${round}`).toBeGreaterThan(0);
        const check = await verify({ remote, remoteOptions: { backend: direct } });
        expect(check.problems, `round ${round}: manifest and objects agree`).toEqual([]);
        expect(check.manifest).toBe(pushed.manifest);
        await pull({ remote, dir: dest, remoteOptions: { backend: viaProxy } });
        expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState }), `round ${round}`).toEqual([]);
      }
    } finally {
      await viaProxy.close?.();
      await direct.close?.();
    }
    // The schedule really hit every kind of fault.
    expect(proxy.injected.reset).toBeGreaterThan(0);
    expect(proxy.injected.error).toBeGreaterThan(0);
    expect(proxy.injected.truncate).toBeGreaterThan(0);
    process.stderr.write(`fault rounds on ${store.dialect}: ${proxy.requests} requests, faults ${JSON.stringify(proxy.injected)}\n`);
  }, 240_000);
});

describe('a lost reply to the manifest write', () => {
  it('is not a conflict: Azurite stored it, the retry gets 412, the push sees its own bytes and succeeds', async () => {
    const src = path.join(work, 'lost-reply', 'src');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'one');
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: azurite.port },
      dialect: 'azure',
      seed: 1,
      rules: [{ match: /^PUT \/devstoreaccount1\/faults\/lost\/\.flowsync\/manifest\.json/, fault: 'reset', times: 2 }],
    });
    proxies.push(proxy);
    const viaProxy = azureBackend(`http://127.0.0.1:${proxy.port}/devstoreaccount1`);
    const direct = azureBackend(azurite.endpoint);
    const remote = `az://${BUCKET}/lost`;
    try {
      const first = await push({ dir: src, remote, cacheDir: false, remoteOptions: { backend: viaProxy } });
      fs.writeFileSync(path.join(src, 'a.txt'), 'two');
      const second = await push({ dir: src, remote, cacheDir: false, remoteOptions: { backend: viaProxy } });
      expect(proxy.injected.reset).toBe(2); // the create (If-None-Match) and the replace (If-Match) both lost their reply
      expect(second.manifest).not.toBe(first.manifest);
      const check = await verify({ remote, remoteOptions: { backend: direct } });
      expect(check).toMatchObject({ ok: true, manifest: second.manifest });
    } finally {
      await viaProxy.close?.();
      await direct.close?.();
    }
  }, 60_000);
});

describe('a lost reply to CompleteMultipartUpload (s3rver)', () => {
  it('is a success: the retries fail (s3rver answers 500, S3 NoSuchUpload), the stored object has the content sha256, the push goes on', async () => {
    const src = path.join(work, 'lost-complete', 'src');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'big.bin'), randomBytes(BIG));
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: s3.port },
      dialect: 's3',
      seed: 2,
      rules: [{ match: /^POST \/faults\/lost-complete\/big\.bin\?uploadId=/, fault: 'reset' }],
    });
    proxies.push(proxy);
    const viaProxy = s3Backend(proxy.endpoint);
    const direct = s3Backend(s3.endpoint);
    const remote = `s3://${BUCKET}/lost-complete`;
    try {
      const pushed = await push({ dir: src, remote, cacheDir: false, remoteOptions: { backend: viaProxy } });
      expect(proxy.injected.reset).toBe(1);
      expect(await verify({ remote, remoteOptions: { backend: direct } })).toMatchObject({ ok: true, manifest: pushed.manifest });
    } finally {
      await viaProxy.close?.();
      await direct.close?.();
    }
  }, 60_000);
});

describe('errors name the real cause', () => {
  it.each(STORES)('$dialect: a connection reset is reported as a reset, not a timeout', async (store) => {
    const src = path.join(work, `reset-${store.dialect}`, 'src');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'one');
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: store.port() },
      dialect: store.dialect,
      seed: 3,
      rules: [{ match: /^PUT .*\/reset-cause\/a\.txt/, fault: 'reset', times: 10 }],
    });
    proxies.push(proxy);
    const viaProxy = store.backend(store.endpointFor(proxy.port));
    try {
      const err = await push({ dir: src, remote: `${store.scheme}://${BUCKET}/reset-cause`, cacheDir: false, remoteOptions: { backend: viaProxy, retry: { attempts: 2, baseDelayMs: 1 } } }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/reset/i);
      expect(err?.message).not.toMatch(/timed? ?out/i);
    } finally {
      await viaProxy.close?.();
    }
  }, 60_000);
});

/**
 * The mirror layout's write lease (DESIGN §5.1), on the local store, Azurite and the in-repo GCS
 * emulator (all enforce conditional writes; s3rver does not, see kill-heal.test.ts for what is
 * covered there):
 * a second push fails fast with nothing written, naming the holder and the expiry; the lease is
 * renewed while a push runs and removed at its end; an expired lease, a dead holder on this host
 * and --break-lease are taken over with a warning, and the remote is healed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend } from '../../src/backends/azure/backend.js';
import { createGcsBackend } from '../../src/backends/gcs/backend.js';
import { createLocalBackend } from '../../src/backends/local.js';
import type { Backend } from '../../src/backends/types.js';
import { isFlowsyncError } from '../../src/errors.js';
import { pull } from '../../src/sync/pull.js';
import { push } from '../../src/sync/push.js';
import { verify } from '../../src/sync/verify.js';
import { compareTrees, excludeFlowsyncState, snapshot } from '../helpers/tree.js';
import { startAzurite, type AzuriteServer } from '../servers/azurite.js';
import { startGcs, type GcsEmulator } from '../servers/gcs.js';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir, writeFiles } from './support.js';
import { rejection } from '../helpers/rejection.js';

const CONTAINER = 'leases';
let work = '';
let azurite: AzuriteServer;
let gcs: GcsEmulator;

beforeAll(async () => {
  work = tempDir('lease');
  [azurite, gcs] = await Promise.all([startAzurite({ containers: [CONTAINER] }), startGcs({ buckets: [CONTAINER] })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([azurite?.stop(), gcs?.stop()]);
  removeDir(work);
});

interface Target {
  name: string;
  remote: (folder: string) => string;
  backend: (folder: string) => Backend;
}

const TARGETS: Target[] = [
  { name: 'local', remote: (f) => path.join(work, 'stores', f), backend: (f) => createLocalBackend({ root: path.join(work, 'stores', f) }) },
  { name: 'azure', remote: (f) => `az://${CONTAINER}/${f}`, backend: () => createAzureBackend({ container: CONTAINER, connectionString: azurite.connectionString }) },
  // The in-repo GCS emulator honours ifGenerationMatch: the committed tag is the generation.
  { name: 'gcs', remote: (f) => `gs://${CONTAINER}/${f}`, backend: () => createGcsBackend({ bucket: CONTAINER, endpoint: gcs.endpoint }) },
];

/** A backend whose object writes (not .flowsync/) wait until `open()` is called. */
function gated(inner: Backend): { backend: Backend; open: () => void; reached: Promise<void> } {
  let open!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  return {
    backend: {
      ...inner,
      async write(key, body, info, o) {
        if (!key.includes('.flowsync/')) {
          reached();
          await gate;
        }
        return inner.write(key, body, info, o);
      },
    },
    open,
    reached: reachedP,
  };
}

function source(name: string, files: Record<string, string>): string {
  return writeFiles(path.join(work, 'src', name), files);
}


function leaseOf(t: Target, folder: string) {
  return { key: (folder && t.name !== 'local' ? `${folder}/` : '') + '.flowsync/lease.json' };
}

async function readLeaseJson(t: Target, folder: string): Promise<Record<string, unknown> | null> {
  const b = t.backend(folder);
  try {
    const info = await b.stat(leaseOf(t, folder).key);
    if (!info) return null;
    const chunks: Buffer[] = [];
    for await (const c of await b.read(leaseOf(t, folder).key)) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } finally {
    await b.close?.();
  }
}

async function plantLease(t: Target, folder: string, holder: Record<string, unknown>): Promise<void> {
  const b = t.backend(folder);
  const bytes = Buffer.from(JSON.stringify({ format: 'flowsync-lease', version: 1, token: 'planted', startedAt: new Date().toISOString(), ...holder }));
  await b.write(leaseOf(t, folder).key, bytes, { size: bytes.length });
  await b.close?.();
}

const logs = () => {
  const warnings: string[] = [];
  return { warnings, log: { info: () => {}, warn: (m: string) => warnings.push(m) } };
};

describe.each(TARGETS)('the write lease on $name', (t) => {
  it('a second push fails fast while the first holds the lease, writes nothing, and names the holder; the lease is renewed and then removed', async () => {
    const folder = `${t.name}-second`;
    const a = source(`${t.name}-a`, { 'x.txt': 'a1', 'y.txt': 'a2' });
    const b = source(`${t.name}-b`, { 'x.txt': 'b1', 'z.txt': 'b3' });
    const g = gated(t.backend(folder));
    const first = push({ dir: a, remote: t.remote(folder), cacheDir: false, leaseTtlMs: 400, remoteOptions: { backend: g.backend } });
    await g.reached;
    const held = await readLeaseJson(t, folder);
    expect(held).toMatchObject({ format: 'flowsync-lease', host: os.hostname(), pid: process.pid });
    // The store as the second push finds it, but for the lease (renewed meanwhile, through temp files).
    const objects = () => Object.fromEntries(Object.entries(snapshot(t.remote(folder))).filter(([k]) => !k.startsWith('.flowsync/') || k === '.flowsync/manifest.json'));
    const before = t.name === 'local' ? objects() : null;

    const err = await rejection(push({ dir: b, remote: t.remote(folder), cacheDir: false, remoteOptions: { backend: t.backend(folder) } }));
    expect(isFlowsyncError(err, 'LOCKED')).toBe(true);
    expect(err.message).toMatch(new RegExp(`is being written by the push of process ${process.pid} on .*; its lease expires at \\d{4}-.*Nothing was written.*--break-lease`));
    if (before) expect(objects()).toEqual(before);

    // Held past its 400 ms lifetime: renewed meanwhile (a later expiry), still refusing others.
    await new Promise((r) => setTimeout(r, 900));
    const renewed = await readLeaseJson(t, folder);
    expect(Date.parse(renewed!.expiresAt as string)).toBeGreaterThan(Date.parse(held!.expiresAt as string));
    expect(isFlowsyncError(await rejection(push({ dir: b, remote: t.remote(folder), cacheDir: false, remoteOptions: { backend: t.backend(folder) } })), 'LOCKED')).toBe(true);

    g.open();
    expect((await first).uploaded).toBe(2);
    expect(await readLeaseJson(t, folder)).toBeNull();
    const dest = path.join(work, 'dest', `${t.name}-second`);
    await pull({ remote: t.remote(folder), dir: dest, remoteOptions: { backend: t.backend(folder) } });
    expect(compareTrees(a, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  });

  it('takes over an expired lease, a dead holder on this host, and (with --break-lease) a live one, each with a warning', async () => {
    const folder = `${t.name}-takeover`;
    const src = source(`${t.name}-t`, { 'f.txt': 'v1' });
    const opts = { dir: src, remote: t.remote(folder), cacheDir: false as const };
    await push({ ...opts, remoteOptions: { backend: t.backend(folder) } });

    // Expired, held by another machine.
    await plantLease(t, folder, { host: 'build-7', pid: 4242, expiresAt: new Date(Date.now() - 1000).toISOString() });
    let l = logs();
    await push({ ...opts, log: l.log, remoteOptions: { backend: t.backend(folder) } });
    expect(l.warnings.join('\n')).toMatch(/Taking over the write lease .*: the lease of the push of process 4242 on build-7 .* expired at/);
    expect(await readLeaseJson(t, folder)).toBeNull();

    // Unexpired, but its process on this machine has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await plantLease(t, folder, { host: os.hostname(), pid: Number(dead.stdout), expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    l = logs();
    await push({ ...opts, log: l.log, remoteOptions: { backend: t.backend(folder) } });
    expect(l.warnings.join('\n')).toMatch(new RegExp(`Taking over .*process ${dead.stdout} on .* no longer runs`));

    // Live, on another machine: refused, unless --break-lease.
    await plantLease(t, folder, { host: 'build-8', pid: 1, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    const err = await rejection(push({ ...opts, remoteOptions: { backend: t.backend(folder) } }));
    expect(err.message).toMatch(/being written by the push of process 1 on build-8/);
    l = logs();
    await push({ ...opts, breakLease: true, log: l.log, remoteOptions: { backend: t.backend(folder) } });
    expect(l.warnings.join('\n')).toMatch(/--break-lease given \(it was held by the push of process 1 on build-8/);
    expect(await readLeaseJson(t, folder)).toBeNull();
    expect((await verify({ remote: t.remote(folder), remoteOptions: { backend: t.backend(folder) } })).ok).toBe(true);
  });
});

describe.each(TARGETS)('lost races and repairs on $name', (t) => {
  it('a push whose lease was broken loses at the manifest, says what to run, and the next push of the winner heals', async () => {
    const folder = `${t.name}-broken`;
    const a = source(`${t.name}-la`, { 'x.txt': 'aaaa', 'y.txt': 'a2' });
    const b = source(`${t.name}-lb`, { 'x.txt': 'bbbb', 'y.txt': 'b2' });
    const cacheB = path.join(work, 'cache', `${t.name}-b`);
    await push({ dir: b, remote: t.remote(folder), cacheDir: cacheB, remoteOptions: { backend: t.backend(folder) } });
    const g = gated(t.backend(folder));
    const losing = push({ dir: a, remote: t.remote(folder), cacheDir: false, remoteOptions: { backend: g.backend } });
    await g.reached;
    fs.appendFileSync(path.join(b, 'y.txt'), ' more');
    await push({ dir: b, remote: t.remote(folder), cacheDir: cacheB, breakLease: true, log: logs().log, remoteOptions: { backend: t.backend(folder) } });
    g.open();
    const err = await rejection(losing);
    expect(isFlowsyncError(err, 'PRECONDITION_FAILED'), err.message).toBe(true);
    expect(err.message).toMatch(/Another push committed a manifest .* it left its lease expired, so the next push from either folder checks every object and repairs the remote\. To make this folder's version live, run: flowsync push .* --repair/);
    // The loser's objects replaced the winner's: a pull refuses them (no live lease: it names --repair).
    const dest = path.join(work, 'dest', `${t.name}-broken`);
    // Without the content cache, which would serve the winner's verified bytes from an earlier pull here.
    const pulled = await rejection(pull({ remote: t.remote(folder), dir: dest, remoteOptions: { backend: t.backend(folder) }, cacheDir: false }));
    expect(pulled.message).toMatch(/could not be downloaded; everything else was placed[\s\S]*disagree with the manifest .* no push holds the write lease[\s\S]*--repair/);
    // The winner pushes again with nothing changed: the expired lease makes it look, and repair.
    const healed = await push({ dir: b, remote: t.remote(folder), cacheDir: cacheB, log: logs().log, remoteOptions: { backend: t.backend(folder) } });
    expect(healed.repaired).toBe(2);
    await pull({ remote: t.remote(folder), dir: dest, remoteOptions: { backend: t.backend(folder) } });
    expect(compareTrees(b, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
    expect(await readLeaseJson(t, folder)).toBeNull();
  });

  it('push --repair restores an object another tool replaced; a no-change push costs two requests', async () => {
    const folder = `${t.name}-repair`;
    const src = source(`${t.name}-r`, { 'f.txt': 'v1 content', 'g.txt': 'stays' });
    const cache = path.join(work, 'cache', `${t.name}-r`);
    await push({ dir: src, remote: t.remote(folder), cacheDir: cache, remoteOptions: { backend: t.backend(folder) } });
    const key = (t.name === 'local' ? '' : `${folder}/`) + 'f.txt';
    const other = t.backend(folder);
    await other.write(key, Buffer.from('v2 content'), { size: 10 }); // same size, other bytes, no sha256
    await other.close?.();

    // Nothing interrupted, nothing changed locally: two requests (manifest tag, lease), no repair.
    const calls: string[] = [];
    const inner = t.backend(folder);
    const counting: Backend = { ...inner, stat: (k, o) => (calls.push(`stat ${k}`), inner.stat(k, o)), read: (k, o) => (calls.push(`read ${k}`), inner.read(k, o)), list: (p, o) => (calls.push(`list ${p}`), inner.list(p, o)) };
    const plain = await push({ dir: src, remote: t.remote(folder), cacheDir: cache, remoteOptions: { backend: counting } });
    expect(plain.uploaded).toBe(0);
    expect(calls).toHaveLength(2);
    expect((await verify({ remote: t.remote(folder), remoteOptions: { backend: t.backend(folder) } })).problems.map((p) => `${p.problem} ${p.path}`)).toEqual(['drifted f.txt']);

    const repaired = await push({ dir: src, remote: t.remote(folder), cacheDir: cache, repair: true, remoteOptions: { backend: t.backend(folder) } });
    expect(repaired).toMatchObject({ uploaded: 1, repaired: 1 });
    expect((await verify({ remote: t.remote(folder), remoteOptions: { backend: t.backend(folder) } })).ok).toBe(true);
    const dest = path.join(work, 'dest', `${t.name}-repair`);
    await pull({ remote: t.remote(folder), dir: dest, remoteOptions: { backend: t.backend(folder) } });
    expect(compareTrees(src, dest, { excludeActual: excludeFlowsyncState })).toEqual([]);
  });
});

describe('the CLI flags', () => {
  it('push --repair and --break-lease, pull --wait are accepted and reported', async () => {
    requireBuiltCli();
    const env = cliEnv(path.join(work, 'cli-cache'));
    const src = source('cli', { 'a.txt': 'alpha' });
    const store = path.join(work, 'stores', 'cli');
    expect((await runCli(['push', src, store, '--quiet'], { env })).code).toBe(0);
    fs.writeFileSync(path.join(store, 'a.txt.tmp'), 'ALPHA');
    fs.renameSync(path.join(store, 'a.txt.tmp'), path.join(store, 'a.txt'));
    const r = await runCli(['push', src, store, '--repair', '--break-lease'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/repaired 1 object\(s\) that disagreed with the manifest/);
    const p = await runCli(['pull', store, path.join(work, 'dest', 'cli'), '--wait', '5s', '--json'], { env });
    expect(p.code, p.stderr).toBe(0);
    const bad = await runCli(['pull', store, path.join(work, 'dest', 'cli2'), '--wait', 'soon'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--wait expects a duration such as 90s, 2m or 500ms/);
  });
});

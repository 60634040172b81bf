/**
 * The mirror layout's write lease (DESIGN §5.1), on the local store and on Azurite (both enforce
 * conditional writes; s3rver does not, see lease-kill.test.ts for what is covered there):
 * a second push fails fast with nothing written, naming the holder and the expiry; the lease is
 * renewed while a push runs and removed at its end; an expired lease, a dead holder on this host
 * and --break-lease are taken over with a warning, and the remote is healed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureBackend } from '../../src/backends/azure.js';
import { createLocalBackend } from '../../src/backends/local.js';
import type { Backend } from '../../src/backends/types.js';
import { isFlowsyncError } from '../../src/errors.js';
import { pull } from '../../src/sync/pull.js';
import { push } from '../../src/sync/push.js';
import { verify } from '../../src/sync/verify.js';
import { compareTrees, excludeFlowsyncState, snapshot } from '../helpers/tree.js';
import { startAzurite, type AzuriteServer } from '../servers/azurite.js';
import { removeDir, tempDir } from './support.js';

const CONTAINER = 'leases';
let work = '';
let azurite: AzuriteServer;

beforeAll(async () => {
  work = tempDir('lease');
  azurite = await startAzurite({ containers: [CONTAINER] });
}, 60_000);
afterAll(async () => {
  await azurite?.stop();
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
  const dir = path.join(work, 'src', name);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), text);
  }
  return dir;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
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
    const before = t.name === 'local' ? snapshot(t.remote(folder)) : null;

    const err = await rejection(push({ dir: b, remote: t.remote(folder), cacheDir: false, remoteOptions: { backend: t.backend(folder) } }));
    expect(isFlowsyncError(err, 'LOCKED')).toBe(true);
    expect(err.message).toMatch(new RegExp(`is being written by the push of process ${process.pid} on .*; its lease expires at \\d{4}-.*Nothing was written.*--break-lease`));
    if (before) expect(snapshot(t.remote(folder))).toEqual(before);

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

/**
 * `image pull` of hostile images (pushed to a real docker-registry with the registry client):
 * every kind of entry that could write outside the destination is refused, nothing is left in
 * or beside the destination. Also: a layer whose bytes do not match the manifest label.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagePull } from '../../src/image/index.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { closeAgents } from '../../src/image/registry/http.js';
import { removeDir, tempDir } from '../e2e/support.js';
import { registryToolsMissing, startRegistry, type RegistryServer } from '../servers/registry.js';

const missing = registryToolsMissing();

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo'; body?: string; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const header = { name: e.name, type, mode: 0o644, ...(e.linkname ? { linkname: e.linkname } : {}), ...(type === 'file' ? { size: Buffer.byteLength(e.body ?? '') } : {}) };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.body ?? '', cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(missing !== null)('image pull refuses hostile layers', () => {
  let reg: RegistryServer;
  let client: RegistryClient;
  let work: string;

  beforeAll(async () => {
    reg = await startRegistry();
    client = new RegistryClient(reg.host);
    work = tempDir('image-hostile');
  });
  afterAll(async () => {
    closeAgents();
    await reg?.stop();
    removeDir(work);
  });

  /** An image of one layer with flowsync's labels (root /opt/prefect/etl). */
  async function pushImage(repo: string, entries: Entry[], manifestId = 'f'.repeat(64)): Promise<string> {
    const raw = await tarOf(entries);
    const gz = zlib.gzipSync(raw);
    await client.uploadBlob(repo, sha(gz), gz.length, () => gz);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'io.flowsync.manifest': manifestId, 'io.flowsync.created': '1970-01-01T00:00:00.000Z', 'io.flowsync.layers': '1', 'io.flowsync.root': '/opt/prefect/etl' } },
        rootfs: { type: 'layers', diff_ids: [sha(raw)] },
      }),
    );
    await client.uploadBlob(repo, sha(config), config.length, () => config);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length }],
    };
    await client.putManifest(repo, '1', Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
    return `${reg.host}/${repo}:1`;
  }

  const cases: Array<[string, Entry[], RegExp]> = [
    ['dotdot', [{ name: 'opt/prefect/etl/../../../etc/passwd', body: 'x' }], /climbs out with \.\./],
    ['absolute', [{ name: '/etc/passwd', body: 'x' }], /is an absolute path/],
    ['outside-root', [{ name: 'etc/cron.d/evil', body: 'x' }], /lies outside the code folder \/opt\/prefect\/etl/],
    ['link-out', [{ name: 'opt/prefect/etl/up', type: 'symlink', linkname: '../../../etc' }], /its target leaves the tree/],
    ['link-absolute', [{ name: 'opt/prefect/etl/abs', type: 'symlink', linkname: '/etc/passwd' }], /absolute path/],
    [
      'through-link',
      [
        { name: 'opt/prefect/etl/l', type: 'symlink', linkname: 'sub' },
        { name: 'opt/prefect/etl/l/x', body: 'x' },
      ],
      /passes through the link l/,
    ],
    ['hardlink', [{ name: 'opt/prefect/etl/h', type: 'link', linkname: 'etc/passwd' }], /is a link entry/],
    ['device', [{ name: 'opt/prefect/etl/dev', type: 'character-device' }], /is a character-device entry/],
    ['fifo', [{ name: 'opt/prefect/etl/pipe', type: 'fifo' }], /is a fifo entry/],
    ['whiteout', [{ name: 'opt/prefect/etl/.wh.flows', body: '' }], /is a whiteout/],
  ];

  it.each(cases)('%s is refused and nothing is written', async (name, entries, reason) => {
    const image = await pushImage(`hostile/${name}`, entries);
    const dest = path.join(work, name);
    const err = await imagePull({ image, dir: dest }).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.message).toMatch(reason);
    expect(err?.code).toBe('UNSAFE_PATH');
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.readdirSync(work).filter((n) => n.startsWith(`${name}.`))).toEqual([]);
    expect(fs.existsSync('/etc/cron.d/evil')).toBe(false);
  });

  it('a manifest over 4 MiB is refused before it is sent', async () => {
    await reg.sync();
    const before = reg.requests().length;
    await expect(client.putManifest('hostile/big', '1', Buffer.alloc(4 * 1024 * 1024 + 1, 32), 'application/vnd.oci.image.manifest.v1+json')).rejects.toThrow(/larger than 4 MiB, the limit registries enforce; it was not read or sent/);
    await reg.sync();
    expect(reg.requests().slice(before).filter((r) => r.path.includes('/manifests/'))).toEqual([]);
  });

  it('files that do not add up to the labelled manifest are refused', async () => {
    const image = await pushImage('hostile/mismatch', [{ name: 'opt/prefect/etl/flow.py', body: 'print(1)\n' }]);
    const dest = path.join(work, 'mismatch');
    await expect(imagePull({ image, dir: dest })).rejects.toThrow(/do not add up to the flowsync manifest/);
    expect(fs.existsSync(dest)).toBe(false);
  });
});

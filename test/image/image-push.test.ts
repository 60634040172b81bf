/**
 * `flowsync image push` / `image pull` against Debian's docker-registry on 127.0.0.1, with skopeo
 * and umoci as the oracles: skopeo reads what was pushed, skopeo copy + umoci unpack give the
 * root file system, the registry's own log counts the requests it answered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { compareTrees, generateTree, type GeneratedTree } from '../helpers/tree.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { closeAgents } from '../../src/image/registry/http.js';
import { makeBaseImage, registryToolsMissing, skopeoInspect, startRegistry, unpackImage, type RegistryServer } from '../servers/registry.js';

const missing = registryToolsMissing();

describe.skipIf(missing !== null)('image push / pull against docker-registry', () => {
  let reg: RegistryServer;
  let work: string;
  let project: string;
  let tree: GeneratedTree;
  let env: NodeJS.ProcessEnv;
  const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
  const blobPuts = (since: number) => reg.requests().slice(since).filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/')).length;
  const manifestPuts = (since: number) => reg.requests().slice(since).filter((r) => r.method === 'PUT' && r.path.includes('/manifests/')).length;

  beforeAll(async () => {
    requireBuiltCli();
    reg = await startRegistry();
    await makeBaseImage(reg, 'base/os:1');
    work = tempDir('image');
    project = path.join(work, 'etl');
    tree = await generateTree(project, { files: 40, maxFileBytes: 3000, ignored: true, links: true, seed: 13 });
    env = cliEnv(path.join(work, 'cache'), { HOME: work });
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(work);
  });

  const push = (...extra: string[]) => runCli(['image', 'push', project, `${reg.host}/flows/etl:v1`, '--base', `${reg.host}/base/os:1`, '--json', ...extra], { env });
  const ignoredPath = (rel: string) => tree.ignored.some((i) => rel === i || rel.startsWith(i + '/'));

  it('pushes the folder as layers on the base: skopeo reads it, umoci unpacks the tree and the base intact', async () => {
    const r = await push();
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = json(r.stdout);
    expect(out.image).toBe(`${reg.host}/flows/etl:v1`);
    expect(out.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.uploaded).toBeGreaterThanOrEqual(2); // our layer(s) and the config; the base layer is mounted
    expect(out.bytes).toBeGreaterThan(0);
    expect(out.mounted).toBe(1); // the base's one layer, mounted from base/os (same registry), never sent
    await reg.sync();
    expect(blobPuts(0)).toBe(2 + (out.uploaded as number)); // skopeo's base layer + config, then ours

    const raw = skopeoInspect(`${reg.host}/flows/etl:v1`, true) as { mediaType: string; layers: unknown[] };
    expect(raw.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const inspected = skopeoInspect(`${reg.host}/flows/etl:v1`) as { Digest: string; Labels: Record<string, string> };
    expect(inspected.Digest).toBe(out.digest);
    expect(inspected.Labels['io.flowsync.manifest']).toBe(out.manifest);
    const config = skopeoInspect(`${reg.host}/flows/etl:v1`, false, ['--config']) as { config: { WorkingDir: string; Env: string[] }; rootfs: { diff_ids: string[] }; history: unknown[] };
    expect(config.config.WorkingDir).toBe('/opt/prefect/etl');
    expect(config.config.Env).toContain('PATH=/usr/local/bin:/usr/bin:/bin'); // the base's config is kept
    expect(config.rootfs.diff_ids.length).toBe(raw.layers.length);

    const unpacked = path.join(work, 'unpack1');
    fs.mkdirSync(unpacked);
    const rootfs = unpackImage(`${reg.host}/flows/etl:v1`, unpacked);
    expect(compareTrees(project, path.join(rootfs, 'opt/prefect/etl'), { excludeExpected: ignoredPath })).toEqual([]);
    expect(fs.readFileSync(path.join(rootfs, 'etc/os-release'), 'utf8')).toBe('ID=flowsync-test\n');
    expect(fs.statSync(path.join(rootfs, 'usr/bin/hello')).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(path.join(rootfs, 'opt/prefect/README'), 'utf8')).toBe('from the base\n');
    expect(tree.ignored.length).toBeGreaterThan(0);
    for (const i of tree.ignored) expect(fs.existsSync(path.join(rootfs, 'opt/prefect/etl', i))).toBe(false);
  });

  it('same tree again: same digest, no blob uploaded; one file changed: one layer, one config, one manifest', async () => {
    const first = json((await push()).stdout);
    const before = reg.requests().length;
    const again = await push();
    expect(again.code).toBe(0);
    await reg.sync();
    const out = json(again.stdout);
    expect(out.digest).toBe(first.digest);
    expect(out.uploaded).toBe(0);
    expect(blobPuts(before)).toBe(0);
    // Not the layer cache answering: a fresh cache folder (no stat cache, no layout) builds the same bytes.
    const fresh = await runCli(['image', 'push', project, `${reg.host}/flows/etl:v1`, '--base', `${reg.host}/base/os:1`, '--json'], { env: { ...env, FLOWSYNC_CACHE_DIR: path.join(work, 'fresh-cache') } });
    expect(json(fresh.stdout).digest).toBe(first.digest);
    expect(json(fresh.stdout).uploaded).toBe(0);

    const file = tree.kept.find((p) => !tree.links[p] && p.endsWith('.py') && fs.statSync(path.join(project, p)).isFile())!;
    fs.appendFileSync(path.join(project, file), '# changed\n');
    const mark = reg.requests().length;
    const changed = await push();
    expect(changed.code).toBe(0);
    await reg.sync();
    const out2 = json(changed.stdout);
    expect(out2.digest).not.toBe(first.digest);
    expect(out2.uploaded).toBe(2);
    expect(blobPuts(mark) + manifestPuts(mark)).toBeLessThanOrEqual(3);
    expect(manifestPuts(mark)).toBe(1);
  });

  it('keeps Docker v2 media types when the base has them, and extra tags point at the same digest', async () => {
    await makeBaseImage(reg, 'base/docker:1', { format: 'v2s2' });
    const r = await runCli(['image', 'push', project, `${reg.host}/flows/etl-docker:a`, '--base', `${reg.host}/base/docker:1`, '--tag', 'b', '--json'], { env });
    expect(r.code).toBe(0);
    const raw = skopeoInspect(`${reg.host}/flows/etl-docker:b`, true) as { mediaType: string; config: { mediaType: string }; layers: Array<{ mediaType: string }> };
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(new Set(raw.layers.map((l) => l.mediaType))).toEqual(new Set(['application/vnd.docker.image.rootfs.diff.tar.gzip']));
    expect((skopeoInspect(`${reg.host}/flows/etl-docker:b`) as { Digest: string }).Digest).toBe(json(r.stdout).digest);
  });

  it('a multi-platform base is resolved to --platform (default linux/amd64); a missing platform lists the ones there are', async () => {
    await makeBaseImage(reg, 'base/multi:arm64', { arch: 'arm64' });
    const client = new RegistryClient(reg.host);
    const entry = async (tag: string, architecture: string) => {
      const m = await client.getManifest('base/multi', tag);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform: { os: 'linux', architecture } };
    };
    await makeBaseImage(reg, 'base/multi:amd64');
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [await entry('amd64', 'amd64'), await entry('arm64', 'arm64'), { ...(await entry('arm64', 'arm64')), platform: { os: 'unknown', architecture: 'unknown' } }] };
    await client.putManifest('base/multi', 'all', Buffer.from(JSON.stringify(index)), index.mediaType);
    closeAgents();
    const on = (platform?: string) => runCli(['image', 'push', project, `${reg.host}/flows/multi:${platform ? 'arm' : 'default'}`, '--base', `${reg.host}/base/multi:all`, '--json', ...(platform ? ['--platform', platform] : [])], { env });
    const arm = await on('linux/arm64');
    expect(arm.code).toBe(0);
    expect((skopeoInspect(`${reg.host}/flows/multi:arm`, false, ['--config']) as { architecture: string }).architecture).toBe('arm64');
    const dflt = await on();
    expect(dflt.code).toBe(0);
    expect((skopeoInspect(`${reg.host}/flows/multi:default`, false, ['--config']) as { architecture: string }).architecture).toBe('amd64');
    const none = await on('linux/s390x');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no linux\/s390x image \(it has: linux\/amd64, linux\/arm64\)/);
  });

  it('a base on another registry is streamed registry-to-registry (its layers are not in the local layout)', async () => {
    const other = await startRegistry();
    try {
      const r = await runCli(['image', 'push', project, `${other.host}/flows/etl:v1`, '--base', `${reg.host}/base/os:1`, '--json'], { env });
      expect(r.code).toBe(0);
      const out = json(r.stdout);
      expect(out.mounted).toBe(0);
      expect(out.uploaded).toBeGreaterThanOrEqual(3); // the base layer, ours, the config
      const rootfs = unpackImage(`${other.host}/flows/etl:v1`, fs.mkdtempSync(path.join(work, 'other-')));
      expect(fs.readFileSync(path.join(rootfs, 'etc/os-release'), 'utf8')).toBe('ID=flowsync-test\n');
    } finally {
      await other.stop();
    }
  });

  it('image pull extracts the code, verified; a non-empty destination is refused', async () => {
    await push();
    const dest = path.join(work, 'pulled');
    const r = await runCli(['image', 'pull', `${reg.host}/flows/etl:v1`, dest, '--json'], { env });
    expect(r.stderr).toBe(r.stderr.replace(/error/gi, ''));
    expect(r.code).toBe(0);
    expect(compareTrees(project, dest, { excludeExpected: ignoredPath })).toEqual([]);
    const again = await runCli(['image', 'pull', `${reg.host}/flows/etl:v1`, dest], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty/);
  });

  it('fails with one clear line: missing base, unknown repository, unreachable registry, not a flowsync image', async () => {
    const noBase = await runCli(['image', 'push', project, `${reg.host}/flows/x:1`, '--base', `${reg.host}/base/os:nope`], { env });
    expect(noBase.code).toBe(1);
    expect(noBase.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^flowsync image: /)]);
    expect(noBase.stderr).toMatch(/base image .*base\/os:nope was not found on .*: base\/os has no tag nope \(it has: 1\)/);
    const noRepo = await runCli(['image', 'pull', `${reg.host}/nobody/here:1`, path.join(work, 'x')], { env });
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toMatch(/was not found on 127\.0\.0\.1:\d+: the repository nobody\/here does not exist/);
    const closed = await runCli(['image', 'push', project, '127.0.0.1:1/flows/x:1', '--base', '127.0.0.1:1/base/os:1'], { env });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/Cannot reach the registry 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    const notOurs = await runCli(['image', 'pull', `${reg.host}/base/os:1`, path.join(work, 'y')], { env });
    expect(notOurs.code).toBe(2); // bad input: the image is not one flowsync built
    expect(notOurs.stderr).toMatch(/was not built by flowsync/);
    const usage = await runCli(['image', 'push', project, `${reg.host}/flows/x:1`], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/needs --base/);
  });
});

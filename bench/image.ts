/**
 * The image scenario (issue 13): a generated 5,000-file project pushed as layers on a small base
 * to Debian's docker-registry on 127.0.0.1, then re-pushed unchanged and after one file changed,
 * with the default split into layers and with --single-layer. Anchor: skopeo copy of the same
 * image from the local OCI layout to the registry (what pushing it with a standard tool costs),
 * first into an empty repository, then again after the change. Reports wall time, blobs and
 * bytes uploaded, and the requests the registry's own log counted.
 *
 *   npm run bench:image [-- --files N]
 * Writes bench/results/image.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imagePush, type ImagePushSummary } from '../src/image/index.js';
import { defaultLayoutDir } from '../src/image/layout.js';
import { makeBaseImage, registryToolsMissing, startRegistry, type RegistryServer } from '../test/servers/registry.js';
import { generateTree } from './data/generate.js';
import { changeFiles, type WorkTree } from './data/mutate.js';
import { hashFile } from './data/tree.js';

interface Row {
  scenario: string;
  tool: string;
  seconds: number;
  blobs: number | string;
  bytes: number | string;
  requests: number;
  note?: string;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

async function main(): Promise<void> {
  const missing = registryToolsMissing();
  if (missing) throw new Error(`the image bench needs ${missing}`);
  const files = arg('--files', 5000);
  const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'flowsync-bench-image-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  try {
    await makeBaseImage(reg, 'base/os:1');
    const root = path.join(work, 'project');
    const plan = await generateTree(root, files, 'flowsync');
    const tree: WorkTree = { root, seed: 'flowsync', facts: new Map(), roles: new Map(plan.files.map((f) => [f.path, f.role])), generation: 0 };
    for (const f of plan.files) if (f.role !== 'ignored') tree.facts.set(f.path, await hashFile(path.join(root, ...f.path.split('/'))));
    const totalBytes = [...tree.facts.values()].reduce((n, f) => n + f.size, 0);
    process.stderr.write(`tree: ${tree.facts.size} files, ${mib(totalBytes)}\n`);

    const run = async (scenario: string, repo: string, cacheDir: string, single: boolean): Promise<ImagePushSummary> => {
      const before = reg.requests().length;
      const t0 = process.hrtime.bigint();
      const r = await imagePush({ dir: root, image: `${reg.host}/${repo}:v1`, base: `${reg.host}/base/os:1`, cacheDir, ...(single ? { maxLayers: 1 } : {}) });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      await reg.sync();
      rows.push({ scenario, tool: single ? 'flowsync --single-layer' : 'flowsync', seconds, blobs: r.uploaded, bytes: r.bytes, requests: reg.requests().length - before - 1, note: `${r.layers} code layer(s)` });
      return r;
    };
    const skopeo = (scenario: string, cacheDir: string, ref: string, repo: string) => {
      const before = reg.requests().length;
      const t0 = process.hrtime.bigint();
      execFileSync('skopeo', ['copy', '--insecure-policy', '--dest-tls-verify=false', `oci:${defaultLayoutDir(cacheDir)}:${ref}`, `docker://${reg.host}/${repo}:v1`], { stdio: 'ignore' });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return reg.sync().then(() => rows.push({ scenario, tool: 'skopeo copy (from the OCI layout)', seconds, blobs: '—', bytes: '—', requests: reg.requests().length - before - 1 }));
    };

    const split = path.join(work, 'cache-split');
    const single = path.join(work, 'cache-single');
    await run('initial push', 'flows/split', split, false);
    await run('initial push', 'flows/single', single, true);
    await skopeo('initial push', split, `${reg.host}/flows/split:v1`, 'anchor/skopeo');
    await run('no-change push', 'flows/split', split, false);
    await run('no-change push', 'flows/single', single, true);
    const changed = await changeFiles(tree, 1 / tree.facts.size, 'image');
    process.stderr.write(`changed: ${changed.join(', ')}\n`);
    await run('push after 1 file changed', 'flows/split', split, false);
    await run('push after 1 file changed', 'flows/single', single, true);
    await skopeo('push after 1 file changed', split, `${reg.host}/flows/split:v1`, 'anchor/skopeo');
  } finally {
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const table = [
    '| scenario | tool | wall time | blobs uploaded | bytes uploaded | requests (registry log) | |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.tool} | ${r.seconds.toFixed(2)} s | ${r.blobs} | ${typeof r.bytes === 'number' ? mib(r.bytes) : r.bytes} | ${r.requests} | ${r.note ?? ''} |`),
  ].join('\n');
  const doc = `# Image bench (flowsync image push vs skopeo copy)

${new Date().toISOString()} · ${os.cpus().length} cores · Node ${process.version} · ${files} generated files (seed "flowsync"), Debian docker-registry on 127.0.0.1 (plain HTTP, filesystem storage).
The same machine is shared with other work; read the numbers as one run, not a median.

${table}

skopeo copies the image flowsync built (from flowsync's local OCI layout), so both push the same blobs; skopeo's
"after the change" run skips the blobs the registry already has, as flowsync does. flowsync's times include the
walk, hashing (stat cache), building the changed layer(s) and gzip.
`;
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'image.md');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, doc);
  process.stdout.write(doc);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench image: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

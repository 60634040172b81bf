import { FlowsyncError } from '../../errors.js';
import type { Command } from '../command.js';
import { formatBytes, formatDuration } from '../format.js';

function strings(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export const imageCommand: Command = {
  name: 'image',
  summary: 'put a folder on a base image as layers in an OCI registry (no Docker daemon), or pull it back',
  usage: 'flowsync image push <dir> <image> --base <image> | pull <image> <dir>',
  args: ['push or pull', 'the source (folder or image)', 'the destination (image or folder)'],
  options: {
    base: { type: 'string' },
    workdir: { type: 'string' },
    tag: { type: 'string', multiple: true },
    platform: { type: 'string' },
    insecure: { type: 'boolean' },
    'ignore-file': { type: 'string' },
    'follow-links': { type: 'boolean' },
    'no-cache': { type: 'boolean' },
    'single-layer': { type: 'boolean' },
  },
  help: `flowsync image push <dir> <image> --base <image> [--workdir PATH] [--tag T]... [--platform os/arch]
flowsync image pull <image> <dir> [--platform os/arch]

Options:
  --base IMAGE        the image to build on (its layers stay where they are: mounted or copied
                      registry-to-registry, never downloaded when the target has them)
  --workdir PATH      where the folder goes in the image (default /opt/prefect/<folder name>)
  --tag T             another tag for the same image (repeatable)
  --platform OS/ARCH  which image of a multi-platform base (default: its only one, else linux/amd64)
  --insecure          allow plain HTTP and unverified TLS for a registry not on localhost/127.0.0.0/8
  --ignore-file F     ignore rules (default <dir>/.prefectignore)
  --follow-links      take what links point to instead of the links
  --no-cache          hash every file (skip the stat cache)
  --single-layer      the whole folder in one layer (default: a few layers split by path, so an
                      edit re-uploads a small one)

Credentials: FLOWSYNC_REGISTRY_USERNAME/FLOWSYNC_REGISTRY_PASSWORD, or Docker's config.json
($DOCKER_CONFIG or ~/.docker/config.json: auths, credsStore, credHelpers). SOURCE_DATE_EPOCH sets
the layers' file times (default 0), so the same folder always gives the same digest.

Examples:
  flowsync image push . 127.0.0.1:5000/flows/etl:v1 --base 127.0.0.1:5000/base/python:3.12
  flowsync image pull 127.0.0.1:5000/flows/etl:v1 ./etl`,
  async run({ positionals: [action, first, second], values, output, signal }) {
    const image = await import('../../image/index.js');
    const insecure = Boolean(values.insecure);
    const platform = typeof values.platform === 'string' ? values.platform : undefined;
    if (action === 'push') {
      if (typeof values.base !== 'string') throw new FlowsyncError('USAGE', 'image push needs --base <image>: the image to put the folder on (e.g. --base python:3.12-slim).');
      const r = await image.imagePush({
        dir: first!,
        image: second!,
        base: values.base,
        tags: strings(values.tag),
        insecure,
        signal,
        log: output.log,
        onProgress: output.onProgress,
        ...(platform ? { platform } : {}),
        ...(typeof values.workdir === 'string' ? { workdir: values.workdir } : {}),
        ...(typeof values['ignore-file'] === 'string' ? { ignoreFile: values['ignore-file'] } : {}),
        ...(values['follow-links'] ? { followLinks: true } : {}),
        ...(values['no-cache'] ? { cacheDir: false as const } : {}),
        ...(values['single-layer'] ? { maxLayers: 1 } : {}),
      });
      const lines = [
        `image push ${r.image}`,
        `  digest ${r.digest}  (image id ${r.imageId.slice(0, 19)})`,
        `  ${r.files} files in ${r.layers} layer(s) at ${r.workdir} on ${r.base}`,
        `  uploaded ${r.uploaded} blob(s) (${formatBytes(r.bytes)}), mounted ${r.mounted}, already there ${r.present}, ${r.requests} requests, in ${formatDuration(r.durationMs)}`,
        ...r.images.slice(1).map((i) => `  also tagged ${i}`),
      ];
      output.result(r, lines.join('\n'));
      return 0;
    }
    if (action === 'pull') {
      const r = await image.imagePull({ image: first!, dir: second!, insecure, signal, onProgress: output.onProgress, ...(platform ? { platform: image.parsePlatform(platform) } : {}) });
      output.result(r, `image pull ${r.image} → ${r.dir}\n  ${r.downloaded} files (${formatBytes(r.bytes)}) from ${r.layers} layer(s), verified against manifest ${r.manifest.slice(0, 16)}, in ${formatDuration(r.durationMs)}`);
      return 0;
    }
    throw new FlowsyncError('USAGE', `Expected 'flowsync image push <dir> <image> --base <image>' or 'flowsync image pull <image> <dir>'; got 'image ${action}'.`);
  },
};

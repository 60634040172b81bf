import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandSpec } from '../infra/measure.js';
import { firstLine } from '../infra/machine.js';
import { baseEnv, type Contender, type ContenderContext, type Location } from './types.js';

/**
 * The bundled CLI that users run; under the profiler the unbundled build, where every function
 * keeps its own module's URL (the profile groups time by module).
 */
function cli(repoRoot: string, profiling = false): string {
  return profiling ? path.join(repoRoot, 'dist', 'src', 'cli', 'main.js') : path.join(repoRoot, 'dist', 'cli', 'main.js');
}

function remoteUrl(loc: Location): string {
  return loc.kind === 's3' ? `s3://${loc.bucket}/${loc.prefix}` : `file://${loc.dir}`;
}

function command(ctx: ContenderContext, args: string[]): CommandSpec {
  const node = ctx.cpuProfileDir ? [process.execPath, '--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfileDir}`] : [process.execPath];
  return {
    argv: [...node, cli(ctx.repoRoot, Boolean(ctx.cpuProfileDir)), ...args, '--json'],
    env: {
      ...baseEnv(ctx),
      AWS_ACCESS_KEY_ID: ctx.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ctx.secretAccessKey,
      AWS_REGION: ctx.region,
      AWS_ENDPOINT_URL_S3: ctx.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      FLOWSYNC_CACHE_DIR: ctx.cacheDir,
    },
    cwd: ctx.home,
  };
}

function detect(repoRoot: string) {
  if (!existsSync(cli(repoRoot))) return { available: false as const, reason: 'dist/cli/main.js not built (run npm run build)' };
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const commit = firstLine('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = firstLine('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src']);
  return { available: true as const, version: `flowsync ${pkg.version}${commit ? ` (${commit}${dirty ? ', src/ has uncommitted changes' : ''})` : ''}` };
}

export function flowsyncContender(store: 's3' | 'local'): Contender {
  return {
    id: store === 's3' ? 'flowsync' : 'flowsync-local',
    label: store === 's3' ? 'flowsync' : 'flowsync (local store)',
    store,
    describe:
      store === 's3'
        ? '`flowsync push <dir> s3://b/p --json` / `flowsync pull s3://b/p <dir> --json` (defaults; warm stat cache unless noted)'
        : '`flowsync push <dir> file:///store --json` (informational: no network, no anchors)',
    detect,
    push: (ctx, dir, to) => command(ctx, ['push', dir, remoteUrl(to)]),
    pull: (ctx, from, dir) => command(ctx, ['pull', remoteUrl(from), dir]),
  };
}

/**
 * flowsync as contenders: the mirror layout on S3 (the reference every ratio is taken against),
 * the packed layout, a pull with a warm worker cache, the mirror layout on Azure, and the local
 * store (no network, informational). Layouts and modes that the built CLI does not have yet are
 * detected from its --help and reported as not available in this build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { azuriteConnectionString } from '../../test/servers/azurite.js';
import type { CommandSpec } from '../infra/measure.js';
import { firstLine } from '../infra/machine.js';
import { baseEnv, type Contender, type ContenderContext, type Detection, type Location, type StoreKind } from './types.js';

/**
 * The bundled CLI that users run; under the profiler the unbundled build, where every function
 * keeps its own module's URL (the profile groups time by module).
 */
function cli(repoRoot: string, profiling = false): string {
  return profiling ? path.join(repoRoot, 'dist', 'src', 'cli', 'main.js') : path.join(repoRoot, 'dist', 'cli', 'main.js');
}

function remoteUrl(loc: Location): string {
  if (loc.kind === 'local') return `file://${loc.dir}`;
  return `${loc.kind === 's3' ? 's3' : 'az'}://${loc.bucket}/${loc.prefix}`;
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
      ...(ctx.azure ? { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(ctx.azure.endpoint) } : {}),
      // Every cache flowsync keeps (stat cache, remote memo, worker content cache) in this
      // invocation's folder, whichever variable it reads.
      FLOWSYNC_CACHE_DIR: ctx.cacheDir,
      XDG_CACHE_HOME: ctx.cacheDir,
    },
    cwd: ctx.home,
  };
}

const helpTexts = new Map<string, string>();

/** `flowsync <command> --help` of the built CLI ('' when it cannot run). */
function help(repoRoot: string, commandName: string): string {
  const key = `${repoRoot}\0${commandName}`;
  if (!helpTexts.has(key)) {
    let text = '';
    try {
      text = execFileSync(process.execPath, [cli(repoRoot), commandName, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    } catch (err) {
      text = String((err as { stdout?: string }).stdout ?? '');
    }
    helpTexts.set(key, text);
  }
  return helpTexts.get(key)!;
}

/** What a layout or mode needs from the built CLI, read from its --help. */
const FEATURES = {
  packed: { command: 'push', test: /--layout\b/, missing: 'not available in this build: `flowsync push --help` has no --layout' },
  cached: { command: 'pull', test: /cache/i, missing: 'not available in this build: `flowsync pull --help` mentions no content cache' },
} as const;

function detect(repoRoot: string, feature?: keyof typeof FEATURES): Detection {
  if (!existsSync(cli(repoRoot))) return { available: false, reason: 'dist/cli/main.js not built (run npm run build)' };
  if (feature && !FEATURES[feature].test.test(help(repoRoot, FEATURES[feature].command))) return { available: false, reason: FEATURES[feature].missing };
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const commit = firstLine('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = firstLine('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src']);
  return { available: true, version: `flowsync ${pkg.version}${commit ? ` (${commit}${dirty ? ', src/ has uncommitted changes' : ''})` : ''}` };
}

type Variant = 'mirror' | 'packed' | 'cached';

export function flowsyncContender(store: StoreKind, variant: Variant = 'mirror'): Contender {
  const suffix = { s3: '', azure: '-az', local: '-local' }[store] + (variant === 'mirror' ? '' : `-${variant}`);
  const where = { s3: '', azure: ' (Azure)', local: ' (local store)' }[store];
  const layoutArgs = variant === 'packed' ? ['--layout', 'packed'] : [];
  const describe = {
    mirror:
      store === 'local'
        ? '`flowsync push <dir> file:///store --json` (informational: no network, no anchors)'
        : `\`flowsync push <dir> ${store === 's3' ? 's3' : 'az'}://b/p --json\` / \`flowsync pull … <dir> --json\` (mirror layout, defaults; warm stat cache unless noted; a fresh pull starts with an empty cache)`,
    packed: '`flowsync push <dir> s3://b/p --layout packed --json` / `flowsync pull s3://b/p <dir> --json` (packed layout: content-addressed packs)',
    cached:
      '`flowsync pull s3://b/p <dir> --json` on a worker whose content cache already holds the files (warmed by an untimed pull into another folder): the mirror layout pulled with a warm cache',
  }[variant];
  return {
    id: `flowsync${suffix}`,
    label: `flowsync${variant === 'mirror' ? '' : ` ${variant === 'packed' ? 'packed' : 'warm cache'}`}${where}`,
    store,
    kind: 'flowsync',
    layout: variant === 'packed' ? 'packed' : 'mirror',
    ...(variant === 'cached' ? { pullOnly: true } : {}),
    describe,
    detect: (repoRoot) => detect(repoRoot, variant === 'mirror' ? undefined : variant),
    push: (ctx, dir, to) => command(ctx, ['push', dir, remoteUrl(to), ...layoutArgs]),
    pull: (ctx, from, dir) => command(ctx, ['pull', remoteUrl(from), dir]),
  };
}

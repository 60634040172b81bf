/**
 * The anchor tools, from Debian packages, each at its defaults and at its best flags for the job:
 * rclone sync (size+modtime compare, and --checksum; 4/8 or 16/16 transfers/checkers; on S3 and,
 * through its azureblob backend, on Azurite), aws s3 sync (/usr/bin/aws; 10 or 32 requests in
 * flight), s3cmd sync (one request at a time, no knob for more). Each gets the
 * .prefectignore lines as its own exclude flags and deletes remote files that are gone locally,
 * as flowsync does.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { firstLine } from '../infra/machine.js';
import { azureLocation, baseEnv, s3Location, type Contender, type ContenderContext, type Detection } from './types.js';

function detectTool(cmd: string, args: string[]): Detection {
  if (cmd.startsWith('/') && !existsSync(cmd)) return { available: false, reason: `${cmd} not installed (apt-get install -y ${path.basename(cmd) === 'aws' ? 'awscli' : path.basename(cmd)})` };
  // aws and s3cmd would read the harness's HOME; a bare environment is enough for --version.
  const line = firstLine(cmd, args, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C.UTF-8' });
  return line === null ? { available: false, reason: `${cmd} not installed (apt-get install -y ${cmd === 'rclone' ? 'rclone' : cmd})` } : { available: true, version: line };
}

function rcloneEnv(ctx: ContenderContext, store: 's3' | 'azure'): Record<string, string> {
  const emptyConfig = path.join(ctx.home, 'rclone.conf');
  if (!existsSync(emptyConfig)) writeFileSync(emptyConfig, '');
  // AWS_CA_BUNDLE is left out on purpose (rclone fails on an unreadable one); baseEnv has none.
  const env = { ...baseEnv(ctx), RCLONE_CONFIG: emptyConfig };
  if (store === 'azure') {
    if (!ctx.azure) throw new Error('rclone on Azure: no Azurite in this run.');
    // rclone 1.60 takes `endpoint` as a DNS suffix and its emulator mode only knows port 10000, so
    // it reaches Azurite on our port through an account SAS URL (the only form that takes a URL).
    return { ...env, RCLONE_CONFIG_BENCH_TYPE: 'azureblob', RCLONE_CONFIG_BENCH_SAS_URL: `${ctx.azure.endpoint}?${ctx.azure.sasQuery}` };
  }
  return {
    ...env,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: ctx.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: ctx.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: ctx.secretAccessKey,
    RCLONE_CONFIG_BENCH_REGION: ctx.region,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
  };
}

/** rclone's best flags for many small files (its docs: more transfers and checkers, one recursive listing). */
const RCLONE_TUNED = ['--transfers', '16', '--checkers', '16'];

/**
 * --fast-list (every rclone contender): s3rver's delimiter listing drops "folders" that hold only
 * folders (a key `p/src/lib/x.py` with no key directly under `p/src/` never yields the common
 * prefix `p/src/`), so rclone's default per-folder listing sees half the remote missing and
 * re-uploads it on every run (and never deletes there). With --fast-list rclone lists the prefix
 * recursively, in 1,000-key pages, which s3rver answers correctly, and which is also what
 * rclone's docs advise for S3 (fewer requests). The "defaults" contenders get only this flag.
 */
function rclone(store: 's3' | 'azure', tuned: boolean, checksum: boolean): Contender {
  const extra = [...(checksum ? ['--checksum'] : []), '--fast-list', ...(tuned ? RCLONE_TUNED : [])];
  const id = ['rclone', store === 'azure' ? 'az' : '', tuned && store === 's3' ? 'tuned' : '', checksum ? 'checksum' : ''].filter(Boolean).join('-');
  const compare = checksum ? 'size+MD5 compare' : 'size+modtime compare';
  const pace = tuned ? '16 transfers, 16 checkers' : '4 transfers, 8 checkers (defaults)';
  return {
    id,
    label: `rclone${store === 'azure' ? ' (Azure)' : ''}${tuned && store === 's3' ? ' tuned' : ''}${checksum ? ' -c' : ''}`,
    store,
    kind: 'anchor',
    tuned,
    describe: `\`rclone sync <dir> bench:b/p ${extra.join(' ')} --exclude …\` (${compare}, ${pace}${store === 'azure' ? ', azureblob backend' : ''})`,
    detect: () => detectTool('rclone', ['version']),
    push: (ctx, dir, to) => {
      const { bucket, prefix } = store === 'azure' ? azureLocation(to) : s3Location(to);
      const excludes = ctx.excludes.rclone.flatMap((e) => ['--exclude', e]);
      return { argv: ['rclone', 'sync', dir, `bench:${bucket}/${prefix}`, ...extra, ...excludes], env: rcloneEnv(ctx, store), cwd: ctx.home };
    },
    pull: (ctx, from, dir) => {
      const { bucket, prefix } = store === 'azure' ? azureLocation(from) : s3Location(from);
      return { argv: ['rclone', 'sync', `bench:${bucket}/${prefix}`, dir, ...extra], env: rcloneEnv(ctx, store), cwd: ctx.home };
    },
  };
}

const AWS = '/usr/bin/aws';

/** aws s3's transfer settings live in its config file; tuned: more requests in flight than its 10. */
const AWS_TUNED_REQUESTS = 32;

function awsEnv(ctx: ContenderContext, tuned: boolean): Record<string, string> {
  const config = path.join(ctx.home, tuned ? 'aws-config-tuned' : 'aws-config');
  const transfer = tuned ? `  max_concurrent_requests = ${AWS_TUNED_REQUESTS}\n` : '';
  if (!existsSync(config)) writeFileSync(config, `[default]\nregion = ${ctx.region}\ns3 =\n  addressing_style = path\n${transfer}`);
  return {
    ...baseEnv(ctx),
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: path.join(ctx.home, 'aws-credentials-none'),
    AWS_ACCESS_KEY_ID: ctx.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ctx.secretAccessKey,
    AWS_DEFAULT_REGION: ctx.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}

function aws(tuned: boolean): Contender {
  return {
    id: tuned ? 'aws-tuned' : 'aws',
    label: tuned ? 'aws s3 sync tuned' : 'aws s3 sync',
    store: 's3',
    kind: 'anchor',
    tuned,
    describe: tuned
      ? `\`/usr/bin/aws s3 sync <dir> s3://b/p --delete --exclude …\` with \`s3.max_concurrent_requests = ${AWS_TUNED_REQUESTS}\` in its config file (size+mtime compare)`
      : '`/usr/bin/aws s3 sync <dir> s3://b/p --delete --exclude …` (defaults: size+mtime compare, 10 requests in flight)',
    detect: () => detectTool(AWS, ['--version']),
    push: (ctx, dir, to) => {
      const { bucket, prefix } = s3Location(to);
      const excludes = ctx.excludes.aws.flatMap((e) => ['--exclude', e]);
      return {
        argv: [AWS, '--endpoint-url', ctx.endpoint, 's3', 'sync', dir, `s3://${bucket}/${prefix}`, '--delete', '--no-progress', '--only-show-errors', ...excludes],
        env: awsEnv(ctx, tuned),
        cwd: ctx.home,
      };
    },
    pull: (ctx, from, dir) => {
      const { bucket, prefix } = s3Location(from);
      return {
        argv: [AWS, '--endpoint-url', ctx.endpoint, 's3', 'sync', `s3://${bucket}/${prefix}`, dir, '--delete', '--no-progress', '--only-show-errors'],
        env: awsEnv(ctx, tuned),
        cwd: ctx.home,
      };
    },
  };
}

function s3cmdConfig(ctx: ContenderContext): string {
  const file = path.join(ctx.home, 's3cmd.cfg');
  const host = new URL(ctx.endpoint).host;
  writeFileSync(
    file,
    [
      '[default]',
      `access_key = ${ctx.accessKeyId}`,
      `secret_key = ${ctx.secretAccessKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      `bucket_location = ${ctx.region}`,
      'use_https = False',
      'signature_v2 = False',
      '',
    ].join('\n'),
  );
  return file;
}

const s3cmd: Contender = {
  id: 's3cmd',
  label: 's3cmd sync',
  store: 's3',
  kind: 'anchor',
  describe: '`s3cmd sync <dir>/ s3://b/p/ --delete-removed --exclude …` (defaults: size+MD5 compare, one request at a time)',
  detect: () => detectTool('s3cmd', ['--version']),
  push: (ctx, dir, to) => {
    const { bucket, prefix } = s3Location(to);
    const excludes = ctx.excludes.s3cmd.flatMap((e) => ['--exclude', e]);
    return {
      argv: ['s3cmd', '-c', s3cmdConfig(ctx), 'sync', '--delete-removed', '--no-progress', ...excludes, `${dir}/`, `s3://${bucket}/${prefix}/`],
      env: baseEnv(ctx),
      cwd: ctx.home,
    };
  },
  pull: (ctx, from, dir) => {
    const { bucket, prefix } = s3Location(from);
    return {
      argv: ['s3cmd', '-c', s3cmdConfig(ctx), 'sync', '--delete-removed', '--no-progress', `s3://${bucket}/${prefix}/`, `${dir}/`],
      env: baseEnv(ctx),
      cwd: ctx.home,
    };
  },
};

export const anchorContenders: Contender[] = [
  rclone('s3', false, false),
  rclone('s3', false, true),
  rclone('s3', true, false),
  rclone('s3', true, true),
  aws(false),
  aws(true),
  s3cmd,
];

/** rclone's azureblob backend on Azurite, at its best flags. */
export const azureAnchorContenders: Contender[] = [rclone('azure', true, false), rclone('azure', true, true)];

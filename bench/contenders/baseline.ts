import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { baseEnv, s3Location, type Contender, type ContenderContext } from './types.js';

function script(repoRoot: string): string {
  return path.join(repoRoot, 'dist', 'bench', 'baseline', 'main.js');
}

function sdkVersion(repoRoot: string): string {
  try {
    const req = createRequire(path.join(repoRoot, 'package.json'));
    const pkg = JSON.parse(readFileSync(req.resolve('@aws-sdk/client-s3/package.json'), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '?';
  }
}

function env(ctx: ContenderContext) {
  return {
    ...baseEnv(ctx),
    AWS_ACCESS_KEY_ID: ctx.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ctx.secretAccessKey,
    AWS_REGION: ctx.region,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

export const baselineContender: Contender = {
  id: 'baseline',
  label: 'Prefect-style baseline',
  store: 's3',
  kind: 'baseline',
  describe:
    "bench/baseline: what Prefect's push_to_s3 / pull_from_s3 do — walk everything, filter with .prefectignore, one object at a time (>8 MiB: multipart, 10 parts in flight, as boto3), never delete",
  detect: (repoRoot) =>
    existsSync(script(repoRoot))
      ? { available: true, version: `node ${process.version}, @aws-sdk/client-s3 ${sdkVersion(repoRoot)}` }
      : { available: false, reason: 'dist/bench/baseline/main.js not built (run npm run build)' },
  push: (ctx, dir, to) => {
    const { bucket, prefix } = s3Location(to);
    return {
      argv: [process.execPath, script(ctx.repoRoot), 'push', '--dir', dir, '--bucket', bucket, '--folder', prefix, '--endpoint', ctx.endpoint],
      env: env(ctx),
      cwd: ctx.home,
    };
  },
  pull: (ctx, from, dir) => {
    const { bucket, prefix } = s3Location(from);
    return {
      argv: [process.execPath, script(ctx.repoRoot), 'pull', '--dir', dir, '--bucket', bucket, '--folder', prefix, '--endpoint', ctx.endpoint],
      env: env(ctx),
      cwd: ctx.home,
    };
  },
};

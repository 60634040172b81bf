/** A contender: a tool that can push a folder to a location and pull it back. */
import type { ToolExcludes } from '../data/excludes.js';
import type { CommandSpec } from '../infra/measure.js';

export type Location = { kind: 's3'; bucket: string; prefix: string } | { kind: 'local'; dir: string };

export interface ContenderContext {
  /** The S3 endpoint contenders talk to (the counting proxy). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The repository root (for dist/ paths). */
  repoRoot: string;
  /** A scratch folder of this contender: its HOME and config files live here. */
  home: string;
  /** flowsync's stat cache folder for this invocation. */
  cacheDir: string;
  excludes: ToolExcludes;
  /** When set, flowsync runs under `node --cpu-prof` writing profiles here. */
  cpuProfileDir?: string;
}

export type Detection = { available: true; version: string } | { available: false; reason: string };

export interface Contender {
  id: string;
  label: string;
  /** Which store it runs against. */
  store: 's3' | 'local';
  /** One line on how it is invoked, for the report. */
  describe: string;
  detect(repoRoot: string): Detection;
  /** Prepare config files in ctx.home (called once per contender and server). */
  setup?(ctx: ContenderContext): void;
  push(ctx: ContenderContext, dir: string, to: Location): CommandSpec;
  pull(ctx: ContenderContext, from: Location, dir: string): CommandSpec;
}

/** The environment every contender starts from: nothing from the harness's own shell but PATH. */
export function baseEnv(ctx: ContenderContext): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: ctx.home,
    LANG: 'C.UTF-8',
    TMPDIR: ctx.home,
  };
}

export function s3Location(to: Location): { bucket: string; prefix: string } {
  if (to.kind !== 's3') throw new Error('This contender runs against S3 only.');
  return to;
}

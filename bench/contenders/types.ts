/** A contender: a tool that can push a folder to a location and pull it back. */
import type { ToolExcludes } from '../data/excludes.js';
import type { CommandSpec } from '../infra/measure.js';

export type StoreKind = 's3' | 'azure' | 'local';

/** `bucket` is the S3 bucket or the Azure container. */
export type Location = { kind: 's3' | 'azure'; bucket: string; prefix: string } | { kind: 'local'; dir: string };

export interface ContenderContext {
  /** The S3 endpoint contenders talk to (the counting proxy in front of s3rver). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The Azure blob endpoint with the account path (the counting proxy in front of Azurite), when Azure runs. */
  azure?: { endpoint: string; sasQuery: string };
  /** The repository root (for dist/ paths). */
  repoRoot: string;
  /** A scratch folder of this contender: its HOME and config files live here. */
  home: string;
  /** flowsync's cache folder for this invocation (stat cache, remote memo, content cache). */
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
  store: StoreKind;
  /** flowsync itself (a layout or mode of it), an anchor tool, or the Prefect-style baseline. */
  kind: 'flowsync' | 'anchor' | 'baseline';
  /** For flowsync: the remote layout its pushes write (checked accordingly). */
  layout?: 'mirror' | 'packed';
  /**
   * Only its pulls are timed (flowsync with a warm worker cache): its prefix is pushed once,
   * untimed, before the pulls, and its cache is warmed by an untimed pull into a scratch folder.
   */
  pullOnly?: boolean;
  /** An anchor given its best flags for the job (the ones that run at every network latency by default). */
  tuned?: boolean;
  /** One line on how it is invoked, for the report. */
  describe: string;
  detect(repoRoot: string): Detection;
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

export function azureLocation(to: Location): { bucket: string; prefix: string } {
  if (to.kind !== 'azure') throw new Error('This contender runs against Azure only.');
  return to;
}

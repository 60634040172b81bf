/** The shape of one CLI command (one command a file, as isomorphic-git does). */
import type { ParseArgsConfig } from 'node:util';
import type { RemoteOptions } from '../backends/open.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  positionals: string[];
  values: Values;
  output: Output;
  signal: AbortSignal;
  remoteOptions: RemoteOptions;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Names of the required positional arguments, in order. */
  args: string[];
  /** Names of optional positional arguments that may follow the required ones (`init [dir]`). */
  optionalArgs?: string[];
  /** Help text: options and examples. */
  help: string;
  options: OptionSpec;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
};

export const COMMON_HELP = `Common options:
  --json              print one JSON summary object on stdout (progress and logs go to stderr)
  -q, --quiet         no progress or info lines (warnings and errors still print)
  --endpoint URL      custom endpoint (S3-compatible store, Azurite, GCS emulator)
  --region REGION     cloud region (S3)
  -h, --help          this help`;

#!/usr/bin/env node
/**
 * flowsync command line. Exit codes: 0 done; 1 failed (the message names the cause and the
 * fix); 2 bad usage or input.
 */
import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import { FlowsyncError, isFlowsyncError } from '../errors.js';
import { flowsyncVersion } from '../pack/provenance.js';
import { scrubSecrets } from '../secrets.js';
import { COMMON_HELP, COMMON_OPTIONS, type Command } from './command.js';
import * as registered from './commands/index.js';
import { createOutput } from './output.js';
import { checkRemoteArg } from './remote-arg.js';
import { describeParseError, usageLine } from './usage-errors.js';
import { capHeapGrowthWhenLarge } from './heap-growth.js';

/** The order `flowsync --help` lists commands in (DESIGN §7); a command not named here comes after them. */
const HELP_ORDER = ['push', 'pull', 'status', 'scan', 'verify', 'log', 'rollback', 'gc', 'cache', 'image', 'init', 'steps'];
const rank = (c: Command): number => (HELP_ORDER.includes(c.name) ? HELP_ORDER.indexOf(c.name) : HELP_ORDER.length);
const COMMANDS: Command[] = (Object.values(registered) as Command[]).sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return `flowsync — sync flow code to S3, Azure Blob, GCS or a local store, and back.

Usage:
${COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`).join('\n')}

Remotes: s3://bucket/folder  az://container/folder  gs://bucket/folder  file:///abs/path  ./local/path
Credentials come from each cloud's standard sources (AWS env/profile, AZURE_STORAGE_CONNECTION_STRING,
GOOGLE_APPLICATION_CREDENTIALS); endpoints from AWS_ENDPOINT_URL_S3, STORAGE_EMULATOR_HOST or --endpoint.

Run 'flowsync <command> --help' for a command's options and examples.`;
}

function commandHelp(c: Command): string {
  return `Usage: ${c.usage}\n\n${c.summary}\n\n${c.help}\n\n${COMMON_HELP}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(mainHelp() + '\n');
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(flowsyncVersion() + '\n');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`flowsync: unknown command ${JSON.stringify(name)}. Commands: ${COMMANDS.map((c) => c.name).join(', ')}. See flowsync --help.\n`);
    return 2;
  }

  const options = { ...command.options, ...COMMON_OPTIONS };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`flowsync ${command.name}: ${describeParseError(err, command, options)}\n${usageLine(command)}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(commandHelp(command) + '\n');
    return 0;
  }
  const most = command.args.length + (command.optionalArgs?.length ?? 0);
  if (positionals.length < command.args.length || positionals.length > most) {
    const missing = command.args.slice(positionals.length).join(', ');
    process.stderr.write(
      `flowsync ${command.name}: ${missing ? `missing ${missing}` : `unexpected argument ${JSON.stringify(positionals[most])}`}.\n${usageLine(command)}\n`,
    );
    return 2;
  }
  // Every argument named "remote" is checked before anything runs (a typo'd s3:/x is no folder name).
  try {
    command.args.forEach((arg, i) => {
      if (arg === 'remote') checkRemoteArg(positionals[i]!);
    });
  } catch (err) {
    return reportError(err, command.name, Boolean(values.json));
  }

  const output = createOutput({ json: Boolean(values.json), quiet: Boolean(values.quiet) });
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    output.log.warn(`${sig}: stopping cleanly (press Ctrl-C again to quit at once)`);
    controller.abort(new FlowsyncError('ABORTED', `Interrupted by ${sig}; nothing half-written was left behind. Run the command again to finish.`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await command.run({
      positionals,
      values,
      output,
      signal: controller.signal,
      remoteOptions: {
        ...(typeof values.endpoint === 'string' ? { endpoint: values.endpoint } : {}),
        ...(typeof values.region === 'string' ? { region: values.region } : {}),
      },
    });
  } catch (err) {
    output.done();
    return reportError(err, command.name, Boolean(values.json));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function reportError(err: unknown, command: string, json: boolean): number {
  const fe = isFlowsyncError(err) ? err : null;
  const message = scrubSecrets(fe ? fe.message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`);
  const code = fe?.exitCode ?? 1;
  process.stderr.write(`flowsync ${command}: ${message}\n`);
  if (process.env.FLOWSYNC_DEBUG && fe?.cause) process.stderr.write(scrubSecrets(`cause: ${(fe.cause as Error)?.stack ?? String(fe.cause)}`) + '\n');
  if (json) process.stdout.write(JSON.stringify({ command, error: { code: fe?.code ?? 'INTERNAL', message } }) + '\n');
  return code;
}

// Cap the old generation's growth once the heap is large (heap-growth.ts).
capHeapGrowthWhenLarge();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`flowsync: ${scrubSecrets(String((err as Error)?.stack ?? err))}\n`);
    process.exitCode = 1;
  },
);

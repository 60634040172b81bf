/**
 * Node's argument parser speaks of "positional arguments" and "-- \"--x\""; a user who typed
 * `--dry-rn` wants the option they meant. These turn its errors into flowsync's own words:
 * what was wrong, the closest option, and the command's usage line.
 */
import type { Command, OptionSpec } from './command.js';
import { closest } from './closest.js';

const UNKNOWN = /^Unknown option '([^']+)'/;
const MISSING_VALUE = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/;
const TAKES_NO_VALUE = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/;

export function usageLine(c: Command): string {
  return `Usage: ${c.usage}  (see flowsync ${c.name} --help)`;
}

/** One line naming the problem (and the fix), for an error thrown by util.parseArgs. */
export function describeParseError(err: unknown, c: Command, options: OptionSpec): string {
  const message = (err as Error)?.message ?? String(err);
  const names = Object.keys(options).map((n) => `--${n}`);
  const unknown = UNKNOWN.exec(message);
  if (unknown) {
    const typed = unknown[1]!;
    const bare = typed.split('=')[0]!;
    const guess = bare.startsWith('--') ? closest(bare, names) : undefined;
    const all = names.filter((n) => n !== '--help').join(' ');
    return `unknown option ${typed}.${guess ? ` Did you mean ${guess}?` : ''} ${c.name} takes: ${all}. (A value that starts with "-" goes after "--".)`;
  }
  const missing = MISSING_VALUE.exec(message);
  if (missing) return `option ${missing[1]} needs a value, e.g. ${missing[1]} ${exampleValue(missing[1]!)}.`;
  const noValue = TAKES_NO_VALUE.exec(message);
  if (noValue) return `option ${noValue[1]} is a switch and takes no value: write ${noValue[1]} alone.`;
  return message;
}

function exampleValue(flag: string): string {
  if (/concurrency|keep/.test(flag)) return '8';
  if (/size/.test(flag)) return '16MiB';
  if (/endpoint/.test(flag)) return 'http://127.0.0.1:9000';
  if (/file|blocks/.test(flag)) return 'FILE';
  if (/dir/.test(flag)) return 'DIR';
  return 'VALUE';
}

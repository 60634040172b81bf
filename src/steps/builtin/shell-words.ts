/**
 * Command-line helpers that follow Python's standard library, because run_shell_script lines
 * were written against it: `shlex.split` (POSIX mode), `string.Template.safe_substitute`
 * (`expand_env_vars`), and Prefect's check for shell operators that need a real shell.
 */
import { FlowsyncError } from '../../errors.js';

/** Python's `shlex.split(command)` (POSIX rules, no comments). */
export function shellSplit(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < command.length) {
    const ch = command[i]!;
    if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw noClosing(command);
      word += command.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      let closed = false;
      while (i < command.length) {
        const c = command[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        // Inside double quotes a backslash escapes only \ and " (Python's shlex, unlike sh).
        if (c === '\\' && i + 1 < command.length && '\\"'.includes(command[i + 1]!)) {
          word += command[i + 1];
          i += 2;
        } else {
          word += c;
          i++;
        }
      }
      if (!closed) throw noClosing(command);
      inWord = true;
    } else if (ch === '\\') {
      if (i + 1 >= command.length) throw new FlowsyncError('INVALID_INPUT', `Cannot split the command ${JSON.stringify(command)}: it ends with a lone backslash.`);
      word += command[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function noClosing(command: string): FlowsyncError {
  return new FlowsyncError('INVALID_INPUT', `Cannot split the command ${JSON.stringify(command)}: no closing quotation. Close the quote or set shell: true.`);
}

// Pipes, && and ||, ;, redirections: outside quotes, these need a shell (as Prefect detects).
const SHELL_OPERATORS = /(?<!\|)\|(?!\|)|&&|\|\||;|>>?|</;

export function usesShellFeatures(command: string): boolean {
  const unquoted = command.replace(/'[^']*'/g, '').replace(/"[^"]*"/g, '');
  return SHELL_OPERATORS.test(unquoted);
}

/** Python's `string.Template(text).safe_substitute(env)`: $NAME, ${NAME}, $$; unknown names stay. */
export function expandEnvVars(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)\})/gi, (match, dollar?: string, named?: string, braced?: string) => {
    if (dollar) return '$';
    const name = (named ?? braced) as string;
    const value = env[name];
    return value === undefined ? match : value;
  });
}

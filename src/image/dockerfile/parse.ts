/**
 * The Dockerfile subset flowsync builds without a daemon, parsed as Docker does: `\` line
 * continuations, `#` comment lines, instructions case-insensitive, exec form (a JSON array) or
 * shell form, `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+alt}` substitution from ARG and
 * ENV in the instructions Docker substitutes. Each instruction keeps its line for messages.
 */
import { FlowsyncError } from '../../errors.js';

export interface Instruction {
  line: number;
  /** Upper-case keyword: FROM, COPY, RUN, … */
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  /** The instruction as written (one line), for messages and history. */
  text: string;
}

export function parseDockerfile(text: string, file: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#.*)?$/.test(first)) continue;
    const start = i + 1;
    let joined = first;
    let more = /\\\s*$/.test(joined);
    while (more && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue; // comment lines inside a continuation are dropped, as Docker does
      joined += next;
      more = /\\\s*$/.test(next);
    }
    const m = /^\s*(\w+)\s*(.*)$/s.exec(joined);
    if (!m) throw new FlowsyncError('INVALID_INPUT', `${file} line ${start}: cannot read ${JSON.stringify(joined.trim().slice(0, 60))} as an instruction.`);
    out.push({ line: start, keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), text: joined.trim() });
  }
  return out;
}

/** Exec form (`["a", "b"]`) when the arguments are a JSON array of strings, else null. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`; `\$` stays a literal dollar. */
export function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\\\$|\$\{(\w+)(?::([-+])([^}]*))?\}|\$(\w+)/g, (whole, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    if (whole === '\\$') return '$';
    const name = braced ?? bare!;
    const value = vars.get(name);
    if (op === '-') return value ? value : (word ?? '');
    if (op === '+') return value ? (word ?? '') : '';
    return value ?? '';
  });
}

/**
 * Words of a shell-form argument list: split on blanks, with "double" and 'single' quotes and
 * backslash escapes (what ENV/LABEL key=value pairs and COPY paths need).
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new FlowsyncError('INVALID_INPUT', `unterminated ${quote} quote in ${JSON.stringify(text.slice(0, 80))}`);
  if (has || cur) words.push(cur);
  return words;
}

/** ENV/LABEL arguments: `k=v k2="v 2"`, or the legacy `ENV k v w` (one pair, the rest is the value). */
export function keyValues(args: string, keyword: string): Array<[string, string]> {
  const words = splitWords(args);
  if (words.length === 0) throw new FlowsyncError('INVALID_INPUT', `${keyword} needs at least one key=value.`);
  if (!words[0]!.includes('=')) {
    if (keyword !== 'ENV' || words.length < 2) throw new FlowsyncError('INVALID_INPUT', `${keyword} ${args}: expected key=value pairs.`);
    return [[words[0]!, args.slice(args.indexOf(words[0]!) + words[0]!.length).trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new FlowsyncError('INVALID_INPUT', `${keyword} ${args}: ${JSON.stringify(w)} is not key=value.`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

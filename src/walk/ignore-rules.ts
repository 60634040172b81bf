/**
 * `.prefectignore` rules with the exact semantics of a root `.gitignore` as git applies it.
 *
 * The `ignore` package (v7) compiles and matches the patterns. This module reads the file the
 * way git does and rewrites the few pattern shapes where `ignore` answers differently from git
 * (each rewrite below names the difference); test/walk/ignore-oracle.test.ts compares the
 * result with `git check-ignore` and `git ls-files` on generated trees.
 *
 * Git matches bytes, not characters: patterns and paths are handled here as "byte strings"
 * (one UTF-16 unit per UTF-8 byte, i.e. the bytes decoded as latin1), so `?`, ranges and
 * classes see the same units git sees. ASCII paths are already byte strings and are used as is.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { FlowsyncError, fsError } from '../errors.js';

export interface IgnoreMatcher {
  /** relPath: POSIX path relative to the walked root, no leading/trailing slash. isDir: whether it is a directory. */
  ignores(relPath: string, isDir: boolean): boolean;
  /** The file the rules came from (absolute), or null when there was none. */
  readonly source: string | null;
}

export const DEFAULT_IGNORE_FILE = '.prefectignore';

/** Rules from text (the content of an ignore file). */
export function ignoreRulesFromText(text: string, source: string | null = null): IgnoreMatcher {
  return matcherFromBytes(Buffer.from(text, 'utf8'), source);
}

/**
 * Load `<dir>/.prefectignore`, or `ignoreFile` (resolved against dir if relative) when given.
 * Missing default file → nothing is ignored (as Prefect). An explicitly given ignoreFile that is
 * missing → FlowsyncError NOT_FOUND naming it. Unreadable → FlowsyncError IO.
 * An empty `ignoreFile` ('') means "no ignore file" (Prefect's `ignore_file: ""`/null): nothing is ignored.
 */
export async function loadIgnoreRules(dir: string, ignoreFile?: string): Promise<IgnoreMatcher> {
  if (ignoreFile === '') return matcherFromBytes(Buffer.alloc(0), null);
  const explicit = ignoreFile !== undefined;
  const file = path.resolve(dir, ignoreFile ?? DEFAULT_IGNORE_FILE);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return matcherFromBytes(Buffer.alloc(0), null);
    if (code === 'ENOENT') {
      throw new FlowsyncError(
        'NOT_FOUND',
        `Ignore file ${file} does not exist. Check the --ignore-file path (a relative path is read from ${path.resolve(dir)}), or leave the option out to use ${DEFAULT_IGNORE_FILE} when present.`,
        { cause: err },
      );
    }
    throw fsError(err, 'read the ignore file', file);
  }
  return matcherFromBytes(bytes, file);
}

// ---------------------------------------------------------------------------------------------
// Reading the file as git does (dir.c: add_patterns_from_buffer, trim_trailing_spaces).

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

interface GitRule {
  negative: boolean;
  mustBeDir: boolean;
  /** Pattern bytes without the `!`, without the trailing `/`; never empty. */
  body: string;
}

/** The pattern lines of an ignore file, as git reads them. */
function readGitRules(bytes: Buffer): GitRule[] {
  // Git skips a UTF-8 BOM at the very start of the file only.
  const text = (bytes.subarray(0, 3).equals(UTF8_BOM) ? bytes.subarray(3) : bytes).toString('latin1');
  const rules: GitRule[] = [];
  // Git splits on LF only; a final line without LF still counts.
  for (let line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue; // the comment test comes before any trimming
    if (line.endsWith('\r')) line = line.slice(0, -1); // exactly one CR before the LF
    const nul = line.indexOf('\0'); // git's patterns are C strings: a NUL ends the line
    if (nul >= 0) line = line.slice(0, nul);
    line = trimTrailingSpaces(line);
    let body = line;
    const negative = body[0] === '!';
    if (negative) body = body.slice(1);
    const mustBeDir = body.endsWith('/');
    if (mustBeDir) body = body.slice(0, -1);
    if (body === '') continue; // an empty pattern never matches
    rules.push({ negative, mustBeDir, body });
  }
  return rules;
}

/** Git's trim_trailing_spaces: drop trailing spaces, keep one escaped by a backslash. */
function trimTrailingSpaces(line: string): string {
  let lastSpace = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ') {
      if (lastSpace < 0) lastSpace = i;
    } else {
      if (c === '\\') {
        i++;
        if (i >= line.length) return line; // a trailing lone backslash: git leaves the line alone
      }
      lastSpace = -1;
    }
  }
  return lastSpace < 0 ? line : line.slice(0, lastSpace);
}

// ---------------------------------------------------------------------------------------------
// Tokens of a pattern, as git's wildmatch.c reads it.

type Token =
  | { kind: 'lit'; ch: string; escaped: boolean }
  | { kind: 'slash'; escaped: boolean }
  | { kind: 'star'; count: number }
  | { kind: 'one' }
  | { kind: 'class'; raw: string };

const POSIX_CLASSES = new Set(['alnum', 'alpha', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'xdigit']);

/** Tokens of `body`, or null when git can never match it (unterminated `[`, unknown `[:class:]`, trailing `\`). */
function tokenize(body: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === '\\') {
      const next = body[i + 1];
      if (next === undefined) return null;
      tokens.push(next === '/' ? { kind: 'slash', escaped: true } : { kind: 'lit', ch: next, escaped: true });
      i += 2;
    } else if (c === '*') {
      let j = i;
      while (body[j] === '*') j++;
      tokens.push({ kind: 'star', count: j - i });
      i = j;
    } else if (c === '?') {
      tokens.push({ kind: 'one' });
      i++;
    } else if (c === '[') {
      const end = bracketEnd(body, i);
      if (end < 0) return null;
      tokens.push({ kind: 'class', raw: body.slice(i, end + 1) });
      i = end + 1;
    } else {
      tokens.push(c === '/' ? { kind: 'slash', escaped: false } : { kind: 'lit', ch: c, escaped: false });
      i++;
    }
  }
  return tokens;
}

/** Index of the `]` closing the bracket expression at `start`, or -1 (the member loop of wildmatch.c). */
function bracketEnd(s: string, start: number): number {
  let p = start + 1;
  let ch = s[p];
  if (ch === '!' || ch === '^') ch = s[++p];
  let prev: string | undefined;
  do {
    if (ch === undefined) return -1;
    if (ch === '\\') {
      ch = s[++p];
      if (ch === undefined) return -1;
    } else if (ch === '-' && prev !== undefined && s[p + 1] !== undefined && s[p + 1] !== ']') {
      ch = s[++p];
      if (ch === '\\' && s[++p] === undefined) return -1;
      ch = undefined; // a range cannot start another range
    } else if (ch === '[' && s[p + 1] === ':') {
      const nameStart = p + 2;
      let q = nameStart;
      while (q < s.length && s[q] !== ']') q++;
      if (q >= s.length) return -1;
      if (q === nameStart || s[q - 1] !== ':') {
        ch = '['; // no ":]": the `[` is a plain member, scanning resumes after it
      } else {
        if (!POSIX_CLASSES.has(s.slice(nameStart, q - 1))) return -1;
        p = q;
        ch = undefined;
      }
    }
    prev = ch;
    ch = s[++p];
  } while (ch !== ']');
  return p;
}

// ---------------------------------------------------------------------------------------------
// Turning git rules into `ignore` patterns.

interface CompiledRule {
  /** `ignore` patterns of one sign that together match exactly what git's rule matches. */
  patterns: string[];
  /** A quick test that passes whenever the rule can match a path (see "Quick check" below). */
  check: RuleCheck;
}

/** The rule for `ignore`, or null when git can never match it (then neither sign has an effect). */
function compileRule(rule: GitRule): CompiledRule | null {
  const tokens = tokenize(rule.body);
  if (tokens === null) return null;
  const sign = rule.negative ? '!' : '';
  const dirSuffix = rule.mustBeDir ? '/' : '';
  // Git looks for a `/` in the raw text: one inside `[...]` or escaped also makes a pathname pattern.
  const pathname = rule.body.includes('/');
  const rewrite = pathname && needsPathnameRewrite(tokens);
  const bodies = rewrite
    ? expandPathname(tokens, literalPrefixLength(tokens))
    : tokens.some(isCarriageReturn)
      ? [emit(tokens, pathname)]
      : [rule.body];
  // Rewritten rules are rare and get no quick check: they always go to `ignore`.
  const check = rewrite ? ALWAYS : ruleCheck(tokens, pathname, rule.mustBeDir);
  return { patterns: bodies.map((b) => sign + b + dirSuffix), check };
}

const isCarriageReturn = (t: Token) => t.kind === 'lit' && t.ch === '\r';

/**
 * Index of the first token after git's "no wildcard" prefix of a pathname pattern (dir.c
 * simple_length: up to the first `*`, `?`, `[` or `\`), not counting a leading `/`, which git
 * strips before matching. Git compares that prefix literally and runs wildmatch on the rest, so
 * the rest's first token counts as "the start of the pattern" for `**`.
 */
function literalPrefixLength(tokens: Token[]): number {
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if ((t.kind === 'lit' || t.kind === 'slash') && !t.escaped) i++;
    else break;
  }
  return i;
}

/** Whether git reads the star run at `k` as a globstar: it fills a path segment. */
function isGlobstar(tokens: Token[], k: number, wildmatchStart: number): boolean {
  const t = tokens[k];
  if (t === undefined || t.kind !== 'star' || t.count < 2) return false;
  const prev = tokens[k - 1];
  const next = tokens[k + 1];
  return (k === wildmatchStart || prev === undefined || prev.kind === 'slash') && (next === undefined || next.kind === 'slash');
}

// A glued globstar: `**` right after the literal prefix, not after a `/` (as in a**/b).
function isGlued(tokens: Token[], start: number): boolean {
  const prev = tokens[start - 1];
  return start > 0 && prev !== undefined && prev.kind !== 'slash' && isGlobstar(tokens, start, start);
}

function needsPathnameRewrite(tokens: Token[]): boolean {
  return isGlued(tokens, literalPrefixLength(tokens)) || tokens.some((t) => (t.kind === 'slash' && t.escaped) || isCarriageReturn(t));
}

// Pathname-pattern bodies for `ignore` that together match what git matches. Two differences
// from `ignore` are handled here (the README of `ignore` lists both under "A run of asterisks"):
//
// 1. Glued `**`: git strips the literal prefix before wildmatch, so in `a**/b` the `**` starts
//    the pattern wildmatch sees and is a globstar: it matches `ab` (zero directories), `a/b`,
//    `ax/b`, `ax/y/b`. `ignore` reads it as `a*/b`. Git's `P**/R` is the union of `/PR` and
//    `P*/**/R`; `P**` is `P*` plus `P*/**`; `P**\/R` (escaped slash) is `P*/**/R`.
// 2. Escaped slash `\/`: git reads it as `/` (and a `**` before it is still a globstar, but
//    without the zero-directory shortcut). `ignore` does not read it as a separator. Written
//    here as `/`, and `**\/` as `*/**/` (one or more directories).
function expandPathname(tokens: Token[], wildmatchStart: number): string[] {
  if (!isGlued(tokens, wildmatchStart)) return [emit(tokens, true)];
  const prefix = tokens.slice(0, wildmatchStart);
  const afterRun = tokens[wildmatchStart + 1];
  const rest = tokens.slice(wildmatchStart + 2); // after the run and the slash that follows it
  const starDirs: Token[] = [{ kind: 'star', count: 1 }, { kind: 'slash', escaped: false }, { kind: 'star', count: 2 }];
  if (afterRun === undefined) {
    return [emit([...prefix, { kind: 'star', count: 1 }], true), emit([...prefix, ...starDirs], true)];
  }
  const oneOrMoreDirs = emit([...prefix, ...starDirs, { kind: 'slash', escaped: false }, ...rest], true);
  if (afterRun.kind === 'slash' && afterRun.escaped) return [oneOrMoreDirs];
  // Zero directories: the rest is matched right after the prefix, glued to it; wildmatch starts
  // again where the rest starts, so a `**` there is glued in turn.
  // A leading `/` keeps the fused pattern anchored even when no other slash is left (`ab`).
  const fused = [...prefix, ...rest];
  const anchored: Token[] = fused[0]?.kind === 'slash' ? fused : [{ kind: 'slash', escaped: false }, ...fused];
  return [...expandPathname(anchored, wildmatchStart + anchored.length - fused.length), oneOrMoreDirs];
}

/**
 * A pattern `ignore` reads exactly as git reads `tokens`: every star run that is not a globstar
 * is written as one `*`, every globstar as `**`, so `ignore` never has to decide what a run is.
 */
function emit(tokens: Token[], pathname: boolean): string {
  let out = '';
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    switch (t.kind) {
      case 'lit':
        out += emitLiteral(t.ch, out.length === 0);
        break;
      case 'slash':
        out += '/';
        break;
      case 'one':
        out += '?';
        break;
      case 'class':
        out += t.raw;
        break;
      case 'star': {
        const next = tokens[k + 1];
        if (!pathname || !isGlobstar(tokens, k, 0)) {
          out += '*';
        } else if (next?.kind === 'slash' && next.escaped) {
          out += '*/**'; // git's `**` + escaped slash: one or more directories (the slash is emitted next)
        } else {
          out += '**';
        }
        break;
      }
    }
  }
  return out;
}

function emitLiteral(ch: string, first: boolean): string {
  if (ch === '\r') return '[\r]'; // `ignore` strips a trailing CR as a line ending; git keeps the one left after its own strip
  if (ch === '*' || ch === '?' || ch === '[' || ch === '\\' || ch === ' ') return `\\${ch}`;
  if (first && (ch === '!' || ch === '#')) return `\\${ch}`;
  return ch;
}

// ---------------------------------------------------------------------------------------------
// Quick check. A walk asks about every file; most match no rule, and `ignore` spends more on
// its bookkeeping (a cache of every answer, parent look-ups) than on matching. Like git's own
// literal shortcuts in dir.c, a rule's fixed parts (literal bytes, lengths, the number of path
// segments) are compared first; only a path some rule could match goes to `ignore`. The check
// is only ever a necessary condition: a path that passes is still decided by `ignore`.

/** What one path segment must look like for a segment pattern to match it. */
interface SegmentCheck {
  /** Bytes from the segment's start (null: any one byte, for `?` and `[...]`). */
  head: (string | null)[];
  /** Bytes from the segment's end, last first. */
  tail: (string | null)[];
  /** Exact length when the segment pattern has no `*`, else -1. */
  length: number;
}

interface RuleCheck {
  always: boolean;
  dirOnly: boolean;
  /** Basename pattern: `fromEnd[0]` is checked against the last segment only. */
  basename: boolean;
  /** Pathname pattern: segments before the first `**`, against the path's first segments. */
  fromStart: SegmentCheck[];
  /** Segments after the last `**` (last first), against the path's last segments. */
  fromEnd: SegmentCheck[];
  /** Without `**`, the exact number of segments; else -1 (then at least fromStart + fromEnd). */
  segments: number;
}

const ALWAYS: RuleCheck = { always: true, dirOnly: false, basename: false, fromStart: [], fromEnd: [], segments: -1 };

function segmentCheck(tokens: Token[]): SegmentCheck {
  const fixed = (t: Token) => (t.kind === 'lit' ? t.ch : null);
  const firstStar = tokens.findIndex((t) => t.kind === 'star');
  if (firstStar < 0) return { head: tokens.map(fixed), tail: [], length: tokens.length };
  let lastStar = tokens.length - 1;
  while (tokens[lastStar]!.kind !== 'star') lastStar--;
  return { head: tokens.slice(0, firstStar).map(fixed), tail: tokens.slice(lastStar + 1).map(fixed).reverse(), length: -1 };
}

/** The check for a rule `ignore` reads as written (no glued `**`, no escaped slash). */
function ruleCheck(tokens: Token[], pathname: boolean, dirOnly: boolean): RuleCheck {
  if (!pathname) return { always: false, dirOnly, basename: true, fromStart: [], fromEnd: [segmentCheck(tokens)], segments: -1 };
  // Split at the separators (a leading `/` only anchors); a segment that is a star run alone is
  // a globstar here, matching any number of whole segments.
  const segments: Token[][] = [[]];
  for (const [k, t] of tokens.entries()) {
    if (t.kind === 'slash') {
      if (k > 0) segments.push([]);
    } else {
      segments[segments.length - 1]!.push(t);
    }
  }
  const isGlobstarSegment = (seg: Token[]) => seg.length === 1 && seg[0]!.kind === 'star' && seg[0]!.count >= 2;
  const first = segments.findIndex(isGlobstarSegment);
  if (first < 0) return { always: false, dirOnly, basename: false, fromStart: segments.map(segmentCheck), fromEnd: [], segments: segments.length };
  let last = segments.length - 1;
  while (!isGlobstarSegment(segments[last]!)) last--;
  return {
    always: false,
    dirOnly,
    basename: false,
    fromStart: segments.slice(0, first).map(segmentCheck),
    fromEnd: segments.slice(last + 1).map(segmentCheck).reverse(),
    segments: -1,
  };
}

function segmentMayMatch(c: SegmentCheck, s: string, start: number, end: number): boolean {
  const length = end - start;
  if (c.length >= 0 ? length !== c.length : length < c.head.length + c.tail.length) return false;
  for (let i = 0; i < c.head.length; i++) {
    const b = c.head[i];
    if (b !== null && s[start + i] !== b) return false;
  }
  for (let i = 0; i < c.tail.length; i++) {
    const b = c.tail[i];
    if (b !== null && s[end - 1 - i] !== b) return false;
  }
  return true;
}

/** `slashes`: the indexes of the `/` in `path`. */
function ruleMayMatch(r: RuleCheck, path: string, isDir: boolean, slashes: number[]): boolean {
  if (r.always) return true;
  if (r.dirOnly && !isDir) return false;
  const count = slashes.length + 1;
  const segStart = (i: number) => (i === 0 ? 0 : slashes[i - 1]! + 1);
  const segEnd = (i: number) => (i === count - 1 ? path.length : slashes[i]!);
  if (r.basename) return segmentMayMatch(r.fromEnd[0]!, path, segStart(count - 1), path.length);
  if (r.segments >= 0 ? count !== r.segments : count < r.fromStart.length + r.fromEnd.length) return false;
  for (let i = 0; i < r.fromStart.length; i++) {
    if (!segmentMayMatch(r.fromStart[i]!, path, segStart(i), segEnd(i))) return false;
  }
  for (let j = 0; j < r.fromEnd.length; j++) {
    const i = count - 1 - j;
    if (!segmentMayMatch(r.fromEnd[j]!, path, segStart(i), segEnd(i))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The matcher.

/** The UTF-8 bytes of `s` as a latin1 string; ASCII strings are returned as they are. */
function toByteString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}

/**
 * `ignore` caches every answer in one object (and finds a parent's answer there). Grown to a
 * walk's size, that cache costs more than the matching itself and keeps every path alive; a
 * fresh instance sharing the compiled rules every so many calls keeps it small and fast, at
 * the cost of re-deriving the current folder's parents once.
 */
const CACHE_RESET_EVERY = 1024;

/** An `ignore` instance, replaced by a fresh one sharing the same compiled rules now and then. */
class Engine {
  private instance: Ignore;
  private calls = 0;

  constructor(private readonly rules: Ignore) {
    this.instance = ignore({ ignorecase: false }).add(rules);
  }

  ignores(path: string, isDir: boolean): boolean {
    if (++this.calls === CACHE_RESET_EVERY) {
      this.calls = 0;
      this.instance = ignore({ ignorecase: false }).add(this.rules);
    }
    // `ignore` tells a directory by its trailing slash.
    return this.instance.ignores(isDir ? `${path}/` : path);
  }
}

class GitIgnoreMatcher implements IgnoreMatcher {
  private readonly slashes: number[] = [];

  constructor(
    private readonly checks: RuleCheck[],
    /** All rules, asked with the whole path. */
    private readonly all: Engine,
    /** The basename rules alone, asked with the last segment: no parents to look up. */
    private readonly basenames: Engine,
    readonly source: string | null,
  ) {}

  // Answers for the path itself, its parent folders being kept: a walker prunes an ignored
  // folder and never asks about what is inside it (git cannot re-include anything there).
  ignores(relPath: string, isDir: boolean): boolean {
    if (relPath === '') return false;
    const bytes = toByteString(relPath);
    const slashes = this.slashes;
    slashes.length = 0;
    for (let i = bytes.indexOf('/'); i >= 0; i = bytes.indexOf('/', i + 1)) slashes.push(i);
    let candidate = false;
    let pathnameCandidate = false;
    for (const check of this.checks) {
      if (ruleMayMatch(check, bytes, isDir, slashes)) {
        candidate = true;
        if (!check.basename) {
          pathnameCandidate = true;
          break;
        }
      }
    }
    if (!candidate) return false; // no rule can match it
    if (pathnameCandidate) return this.all.ignores(bytes, isDir);
    // Only basename rules can match, and they see nothing but the last segment.
    return this.basenames.ignores(slashes.length === 0 ? bytes : bytes.slice(slashes[slashes.length - 1]! + 1), isDir);
  }
}

const NOTHING_IGNORED: (source: string | null) => IgnoreMatcher = (source) => ({ source, ignores: () => false });

function matcherFromBytes(bytes: Buffer, source: string | null): IgnoreMatcher {
  const compiled = readGitRules(bytes)
    .map(compileRule)
    .filter((r): r is CompiledRule => r !== null);
  if (compiled.length === 0) return NOTHING_IGNORED(source);
  // Git is case-sensitive on a case-sensitive file system; `ignore` defaults to ignoring case.
  const engine = (rules: CompiledRule[]) => new Engine(ignore({ ignorecase: false }).add(rules.flatMap((r) => r.patterns)));
  const checks = compiled.map((r) => r.check);
  return new GitIgnoreMatcher(checks, engine(compiled), engine(compiled.filter((r) => r.check.basename)), source);
}

/**
 * Git's wildmatch (wildmatch.c), ported: shell-style matching of `*`, `?`, `[...]` and `\`,
 * where with `pathname` a `*` or `?` never matches `/` and a `**` that fills whole path segments
 * matches any number of folders. Both strings are byte strings (one UTF-16 unit per byte, the
 * UTF-8 bytes decoded as latin1), so classes and `?` see the bytes git sees. Character classes
 * use git's locale-free ASCII ctype: no byte above 0x7f is in any class.
 */

const MATCH = 0;
const NO_MATCH = 1;
const ABORT_ALL = -1;
const ABORT_TO_STARSTAR = -2;

const SLASH = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const COLON = 0x3a;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isAlpha = (c: number) => isUpper(c) || isLower(c);
const isPrint = (c: number) => c >= 0x20 && c <= 0x7e;
/** Git's isspace: tab, LF, CR and space (not VT or FF). */
const isSpace = (c: number) => c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20;

const CLASSES: Record<string, (c: number) => boolean> = {
  alnum: (c) => isAlpha(c) || isDigit(c),
  alpha: isAlpha,
  blank: (c) => c === 0x20 || c === 0x09,
  cntrl: (c) => c < 0x20 || c === 0x7f,
  digit: isDigit,
  graph: (c) => isPrint(c) && c !== 0x20,
  lower: isLower,
  print: isPrint,
  punct: (c) => isPrint(c) && c !== 0x20 && !isAlpha(c) && !isDigit(c),
  space: isSpace,
  upper: isUpper,
  xdigit: (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66),
};

/** `*`, `?`, `[` and `\`: what git's is_glob_special names. */
const isGlobSpecial = (c: number) => c === STAR || c === 0x3f || c === OPEN || c === BACKSLASH;

/** Whether `text` matches `pattern` (git's wildmatch with WM_PATHNAME when `pathname`). */
export function wildmatch(pattern: string, text: string, pathname: boolean): boolean {
  return dowild(pattern, 0, text, 0, pathname) === MATCH;
}

function dowild(p: string, pi: number, t: string, ti: number, pathname: boolean): number {
  // A string read past its end gives 0, as the C string's terminating NUL does.
  const at = (s: string, i: number) => (i < s.length ? s.charCodeAt(i) : 0);
  const start = pi;
  for (; pi < p.length; ti++, pi++) {
    let pc = p.charCodeAt(pi);
    let tc = at(t, ti);
    if (tc === 0 && pc !== STAR) return ABORT_ALL;
    switch (pc) {
      case BACKSLASH:
        // Literal match with the next byte (a trailing `\` compares 0 with the text: no match).
        pc = at(p, ++pi);
        if (tc !== pc) return NO_MATCH;
        continue;
      case 0x3f: // ?
        if (pathname && tc === SLASH) return NO_MATCH;
        continue;
      case STAR: {
        let matchSlash: boolean;
        if (at(p, ++pi) === STAR) {
          const prev = pi - 2;
          while (at(p, ++pi) === STAR);
          if (!pathname) matchSlash = true;
          else if ((prev < start || at(p, prev) === SLASH) && (at(p, pi) === 0 || at(p, pi) === SLASH || (at(p, pi) === BACKSLASH && at(p, pi + 1) === SLASH))) {
            // `**/` may match no folder at all: try the rest right here first.
            if (at(p, pi) === SLASH && dowild(p, pi + 1, t, ti, pathname) === MATCH) return MATCH;
            matchSlash = true;
          } else matchSlash = false;
        } else matchSlash = !pathname;
        if (at(p, pi) === 0) {
          // A trailing `**` matches everything; a trailing `*` only what has no more slashes.
          return !matchSlash && t.indexOf('/', ti) >= 0 ? NO_MATCH : MATCH;
        }
        if (!matchSlash && at(p, pi) === SLASH) {
          // One `*` then `/`: the `*` takes the rest of this segment.
          const slash = t.indexOf('/', ti);
          if (slash < 0) return NO_MATCH;
          ti = slash; // the slashes are consumed by the loop's increment
          break;
        }
        for (;;) {
          if (tc === 0) break;
          // A literal after the star: skip ahead to its next occurrence (not past a `/` unless `**`).
          const next = at(p, pi);
          if (!isGlobSpecial(next)) {
            while ((tc = at(t, ti)) !== 0 && (matchSlash || tc !== SLASH)) {
              if (tc === next) break;
              ti++;
            }
            if (tc !== next) return NO_MATCH;
          }
          const matched = dowild(p, pi, t, ti, pathname);
          if (matched !== NO_MATCH) {
            if (!matchSlash || matched !== ABORT_TO_STARSTAR) return matched;
          } else if (!matchSlash && tc === SLASH) return ABORT_TO_STARSTAR;
          tc = at(t, ++ti);
        }
        return ABORT_ALL;
      }
      case OPEN: {
        pc = at(p, ++pi);
        if (pc === 0x5e) pc = 0x21; // `^` negates like `!`
        const negated = pc === 0x21;
        if (negated) pc = at(p, ++pi);
        let prev = 0;
        let matched = false;
        do {
          if (pc === 0) return ABORT_ALL;
          if (pc === BACKSLASH) {
            pc = at(p, ++pi);
            if (pc === 0) return ABORT_ALL;
            if (tc === pc) matched = true;
          } else if (pc === 0x2d && prev !== 0 && at(p, pi + 1) !== 0 && at(p, pi + 1) !== CLOSE) {
            pc = at(p, ++pi);
            if (pc === BACKSLASH) {
              pc = at(p, ++pi);
              if (pc === 0) return ABORT_ALL;
            }
            if (tc <= pc && tc >= prev) matched = true;
            pc = 0; // a range's end cannot start another range
          } else if (pc === OPEN && at(p, pi + 1) === COLON) {
            const nameStart = (pi += 2);
            while ((pc = at(p, pi)) !== 0 && pc !== CLOSE) pi++;
            if (pc === 0) return ABORT_ALL;
            if (pi - nameStart - 1 < 0 || at(p, pi - 1) !== COLON) {
              // No `:]`: the `[` is a plain member, and scanning resumes right after it.
              pi = nameStart - 2;
              pc = OPEN;
              if (tc === pc) matched = true;
              continue;
            }
            const test = CLASSES[p.slice(nameStart, pi - 1)];
            if (!test) return ABORT_ALL; // an unknown [:class:]: git gives up on the pattern
            if (test(tc)) matched = true;
            pc = 0;
          } else if (tc === pc) matched = true;
        } while (((prev = pc), (pc = at(p, ++pi)) !== CLOSE));
        if (matched === negated || (pathname && tc === SLASH)) return NO_MATCH;
        continue;
      }
      default:
        if (tc !== pc) return NO_MATCH;
        continue;
    }
  }
  return ti < t.length ? NO_MATCH : MATCH;
}

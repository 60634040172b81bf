/**
 * `.dockerignore` as Docker reads it (moby's patternmatcher): one pattern a line, `#` comments,
 * `!` exceptions, the last matching pattern wins; patterns are cleaned and relative to the
 * context root (a leading `/` is dropped); `*` and `?` stay within one path segment, `**` spans
 * any number; a pattern that matches a parent folder matches everything inside it. Unlike git,
 * there is no "anchored only with a slash" rule and no trailing-slash directory-only rule.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fsError } from '../../errors.js';
import type { IgnoreMatcher } from '../../walk/ignore-rules.js';

interface Rule {
  re: RegExp;
  exception: boolean;
}

function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = '^' + cls.slice(1);
        out += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      out += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function dockerignoreFromText(text: string, source: string | null): IgnoreMatcher {
  const rules: Rule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    let clean = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (clean === '.' || clean === '') clean = '**';
    rules.push({ re: globToRegExp(clean), exception });
  }
  const hasExceptions = rules.some((r) => r.exception);
  const excluded = (rel: string): boolean => {
    let result = false;
    const parents: string[] = [];
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
    for (const r of rules) {
      if (parents.some((p) => r.re.test(p))) result = !r.exception;
    }
    return result;
  };
  return {
    source,
    // A folder is pruned only when no exception could bring back something inside it.
    ignores: (rel, isDir) => (isDir && hasExceptions ? false : excluded(rel)),
  };
}

export function loadDockerignore(context: string): IgnoreMatcher {
  const file = path.join(context, '.dockerignore');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return dockerignoreFromText('', null);
    throw fsError(err, 'read', file);
  }
  return dockerignoreFromText(text, file);
}

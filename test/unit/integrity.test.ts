/**
 * Units of the mirror layout's integrity: bounded JSON parsing, the committed tag in the
 * manifest, and the pure drift comparison of a manifest with a listing.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { createManifest, filesDigest, parseManifest, serializeManifest } from '../../src/manifest/codec.js';
import { findDrift, normalizeTag } from '../../src/plan/drift.js';
import { jsonDepth, parseBoundedJson } from '../../src/util/bounded-json.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const bounds = { what: 'the thing', maxBytes: 1000, maxDepth: 3, code: 'BAD_MANIFEST' as const, fix: 'Fix it.' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('bounded JSON', () => {
  it('counts nesting outside strings only (brackets and escaped quotes inside strings do not count)', () => {
    expect(jsonDepth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(jsonDepth('{"a":"[[[[{{{{\\"[[["}')).toBe(1);
    expect(jsonDepth('"\\\\"')).toBe(0);
    expect(jsonDepth('[]')).toBe(1);
  });

  it('finds the same depth as a character-by-character scan on arbitrary JSON (property)', () => {
    // The reader jumps from quote to closing quote; the plain scan is the oracle.
    const reference = (text: string): number => {
      let depth = 0;
      let deepest = 0;
      let inString = false;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
        else if (c === '}' || c === ']') depth--;
      }
      return deepest;
    };
    const tricky = fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', '\\"', '\\\\"');
    const key = fc.array(tricky, { maxLength: 6 }).map((p) => p.join(''));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), key, (value, k) => {
        const text = JSON.stringify({ [k]: value, v: [k, { [k]: k }] });
        expect(jsonDepth(text)).toBe(reference(text));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses too deep and too big documents with the code, the cause and the fix; never overflows the stack', () => {
    const deep = thrown(() => parseBoundedJson('[[[[1]]]]', bounds));
    expect(isFlowsyncError(deep, 'BAD_MANIFEST')).toBe(true);
    expect(deep.message).toBe('The thing nests objects or arrays more than 3 levels deep. Fix it.');
    expect(thrown(() => parseBoundedJson('"' + 'x'.repeat(1000) + '"', bounds)).message).toMatch(/^The thing is 1002 bytes, more than the 1000/);
    expect(thrown(() => parseBoundedJson('{"a":', bounds)).message).toMatch(/^The thing is not valid JSON \(.*\)\. Fix it\.$/);
    const huge = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(thrown(() => parseBoundedJson(huge, { ...bounds, maxBytes: 1e6 })).message).toMatch(/more than 3 levels/);
    expect(parseBoundedJson(Buffer.from('{"a":[1]}'), bounds)).toEqual({ a: [1] });
  });
});

describe('the committed tag in the manifest', () => {
  const file = { path: 'a.txt', size: 1, mode: 0o644 as const, sha256: sha('a') };

  it('round-trips, and does not change the files digest (two scans of one tree agree)', () => {
    const tagged = createManifest([{ ...file, tag: '"abc"' }], new Date(0));
    const back = parseManifest(serializeManifest(tagged));
    expect(back.files).toEqual([{ ...file, tag: '"abc"' }]);
    expect(filesDigest(back)).toBe(filesDigest(createManifest([file], new Date(0))));
  });

  it('refuses a tag that is not a short printable string, and sizes above 2^48', () => {
    const head = { format: 'flowsync-manifest', version: 1, createdAt: 'x', layout: 'mirror' };
    for (const tag of ['', 'x'.repeat(257), 'a\nb', 7]) {
      const err = thrown(() => parseManifest(JSON.stringify({ ...head, files: [{ ...file, tag }] })));
      expect(err.message).toMatch(/files\[0\]\.tag is not a short printable string/);
    }
    expect(thrown(() => parseManifest(JSON.stringify({ ...head, files: [{ ...file, size: 2 ** 48 + 1 }] }))).message).toMatch(/more than any object store holds/);
    expect(parseManifest(JSON.stringify({ ...head, files: [{ ...file, size: 2 ** 48 }] })).files).toHaveLength(1);
  });
});

describe('drift of a listing against a manifest', () => {
  const e = (path: string, tag?: string) => ({ path, size: 3, mode: 0o644 as const, sha256: sha(path), ...(tag ? { tag } : {}) });

  it('names missing, drifted (size, stored sha256, tag) and stray objects; quotes around tags do not matter', () => {
    const listing = new Map([
      ['ok', { size: 3, etag: 'T1' }],
      ['retagged', { size: 3, etag: '"T9"' }],
      ['resized', { size: 4, etag: 'T3' }],
      ['badsha', { size: 3, etag: 'T4', sha256: sha('other') }],
      ['untagged-with-sha', { size: 3, sha256: sha('untagged-with-sha') }],
      ['untagged-no-sha', { size: 3, etag: 'T6' }],
      ['.flowsync/manifest.json', { size: 100 }],
      ['extra.txt', { size: 1 }],
    ]);
    const drift = findDrift(
      [e('ok', '"T1"'), e('retagged', 'T2'), e('resized', 'T3'), e('badsha', 'T4'), e('untagged-with-sha'), e('untagged-no-sha'), e('gone', 'T7')],
      listing,
    );
    expect(drift.map((d) => `${d.kind} ${d.path}`)).toEqual(['drifted retagged', 'drifted resized', 'drifted badsha', 'drifted untagged-no-sha', 'missing gone', 'stray extra.txt']);
    expect(drift[0]!.detail).toMatch(/tag "T9" is not the committed T2/);
    expect(normalizeTag('W/"x"')).toBe('x');
  });
});

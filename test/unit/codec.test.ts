/** Manifest v1 (DESIGN §4): deterministic bytes, round trip, validation that rejects and never cleans. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { createHash } from 'node:crypto';
import { createManifest, filesDigest, manifestId, parseManifest, serializeManifest, sortEntries } from '../../src/manifest/codec.js';
import { compareUtf8, resolveLinkTarget, unsafePathReason } from '../../src/manifest/paths.js';
import type { Manifest, ManifestEntry } from '../../src/manifest/types.js';

const SHA = (c: string) => c.repeat(64);
const file = (path: string, sha = SHA('a'), size = 1, mode: 420 | 493 = 420): ManifestEntry => ({ path, size, mode, sha256: sha });
const link = (path: string, target: string): ManifestEntry => ({ path, link: target });
const DATE = new Date('2026-01-02T03:04:05.006Z');

/** A manifest as raw JSON text, for inputs a writer would never produce. */
function raw(files: unknown[], top: Record<string, unknown> = {}): string {
  return JSON.stringify({ format: 'flowsync-manifest', version: 1, createdAt: DATE.toISOString(), layout: 'mirror', files, ...top });
}

function parseError(text: string): { code: string; message: string } {
  try {
    parseManifest(text, 'test');
  } catch (err) {
    if (!isFlowsyncError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('parseManifest accepted the manifest');
}

describe('serialise', () => {
  it('gives the same bytes for the same tree, whatever the entry order', () => {
    const entries = [file('b'), file('a/z', SHA('b'), 3, 493), link('l', 'a/z'), file('a/y')];
    const one = serializeManifest(createManifest(entries, DATE));
    const two = serializeManifest(createManifest([...entries].reverse(), DATE));
    expect(Buffer.from(one).equals(Buffer.from(two))).toBe(true);
    expect(manifestId(one)).toBe(manifestId(two));
    expect(manifestId(one)).toMatch(/^[0-9a-f]{64}$/);
    // Fixed key order, one entry a line, a final newline.
    expect(Buffer.from(one).toString('utf8')).toBe(
      '{"format":"flowsync-manifest","version":1,"createdAt":"2026-01-02T03:04:05.006Z","layout":"mirror","files":[\n' +
        `{"path":"a/y","size":1,"mode":420,"sha256":"${SHA('a')}"},\n` +
        `{"path":"a/z","size":3,"mode":493,"sha256":"${SHA('b')}"},\n` +
        `{"path":"b","size":1,"mode":420,"sha256":"${SHA('a')}"},\n` +
        '{"path":"l","link":"a/z"}\n]}\n',
    );
  });

  it('sorts by the UTF-8 bytes of the path, astral-plane characters included', () => {
    // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8, but after it in UTF-16
    // code units (0xFF5E > 0xD83D). Likewise 'é' (C3 A9) vs 'e\u0301' (65 CC 81).
    const names = ['\u{1F600}', '\uFF5E', 'z', 'e\u0301', '\u00e9', 'a b', 'a', 'A', '-x', '\u{10000}', '\uD7FF'];
    const m = createManifest(names.map((n) => file(n)), DATE);
    const got = m.files.map((e) => e.path);
    const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(got).toEqual(byBytes);
    expect(got.indexOf('\uFF5E')).toBeLessThan(got.indexOf('\u{1F600}'));
    // And parse keeps that order.
    expect(parseManifest(serializeManifest(m)).files.map((e) => e.path)).toEqual(byBytes);
  });

  it('compareUtf8 agrees with byte order on arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const want = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareUtf8(a, b))).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  it('sortEntries gives UTF-8 byte order for input in UTF-16 order, byte order or none (property)', () => {
    const byBytes = (paths: string[]) => [...paths].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    const unit = fc.constantFrom('a', 'b', '/', '.', '\uFF5E', '\uE000', '\u{1F600}', '\u00E9');
    const paths = fc.uniqueArray(fc.array(unit, { minLength: 1, maxLength: 4 }).map((u) => u.join('')), { maxLength: 12 });
    fc.assert(
      fc.property(paths, (list) => {
        const want = byBytes(list);
        // Already sorted as JS strings compare (the fast path's `<`), in byte order, and as given.
        for (const input of [[...list].sort(), want, list]) {
          expect(sortEntries(input.map((p) => file(p))).map((e) => e.path)).toEqual(want);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('encodes a manifest of several MB (written in ~1 MB pieces) to the bytes of the document as one string', () => {
    const files = Array.from({ length: 20_000 }, (_, i) => file(`dossier-é/${String(i).padStart(6, '0')}-\u{1F600}.py`, SHA('b'), i));
    const bytes = Buffer.from(serializeManifest(createManifest(files, DATE)));
    // Over 2 Mi UTF-16 units, so at least two pieces are joined.
    expect(bytes.toString('utf8').length).toBeGreaterThan(2 * 1024 * 1024);
    const head = JSON.stringify({ format: 'flowsync-manifest', version: 1, createdAt: DATE.toISOString(), layout: 'mirror' });
    const whole = `${head.slice(0, -1)},"files":[\n${files.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
    expect(bytes.equals(Buffer.from(whole, 'utf8'))).toBe(true);
    expect(parseManifest(bytes).files).toEqual(files);
  });

  it('round-trips every entry kind and keeps unknown top-level fields', () => {
    const text = raw([file('x/y', SHA('c'), 7, 493), link('x/l', 'y')], { futureField: { a: [1, 2] }, note: 'kept' });
    const m = parseManifest(text);
    expect(m.extra).toEqual({ futureField: { a: [1, 2] }, note: 'kept' });
    expect(m.files).toEqual([link('x/l', 'y'), file('x/y', SHA('c'), 7, 493)]);
    const again = parseManifest(serializeManifest(m));
    expect(again).toEqual(m);
    expect(Buffer.from(serializeManifest(again)).equals(Buffer.from(serializeManifest(m)))).toBe(true);
  });

  it('round-trips random manifests byte for byte (property)', () => {
    const segment = fc.oneof(
      fc.constantFrom('a', 'b', 'dir', 'with space', '#h', '[x]', '-d', '\u00e9', 'e\u0301', '\u{1F600}', '\uFF5E', '.hidden'),
      fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 6 }).filter((s) => unsafePathReason(s) === null && !s.includes('/')),
    );
    const entry = fc.record({
      path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')),
      size: fc.nat(),
      mode: fc.constantFrom(420 as const, 493 as const),
      sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 30 }), (entries) => {
        // Drop file/folder clashes ("a" and "a/b"), which the reader rightly refuses.
        const paths = new Set(entries.map((e) => e.path));
        const ok = entries.filter((e) => ![...paths].some((p) => p.startsWith(e.path + '/')) && !e.path.startsWith('.flowsync'));
        const m = createManifest(ok, DATE);
        const bytes = serializeManifest(m);
        const back = parseManifest(bytes);
        expect(back.files).toEqual(m.files);
        expect(Buffer.from(serializeManifest(back)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
  it('writes each entry as JSON.stringify would, and digests the files as before (property)', () => {
    // The lines are put together by hand for speed; JSON.stringify is the oracle, and the files
    // digest must stay what earlier versions stored in their memos.
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 });
    const entry = fc.oneof(
      fc.record({ path: text, size: fc.nat(), mode: fc.constantFrom(420 as const, 493 as const), sha256: fc.stringMatching(/^[0-9a-f]{64}$/), tag: fc.option(text, { nil: undefined }) }),
      fc.record({ path: text, link: text }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 20 }), (entries) => {
        const m = createManifest(entries.map((e) => ('tag' in e && e.tag === undefined ? { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 } : e)) as ManifestEntry[], DATE);
        const lines = m.files.map((e) => JSON.stringify(e));
        const want = `{"format":"flowsync-manifest","version":1,"createdAt":"${DATE.toISOString()}","layout":"mirror","files":[${lines.length ? '\n' + lines.join(',\n') + '\n' : ''}]}\n`;
        expect(Buffer.from(serializeManifest(m)).toString('utf8')).toBe(want);
        const content = m.files.map((e) => JSON.stringify('link' in e ? { path: e.path, link: e.link } : { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 }) + '\n');
        expect(filesDigest(m)).toBe(createHash('sha256').update(content.join('')).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });
});

describe('parse: refusals', () => {
  it.each([
    ['../x', 'a ".." segment'],
    ['/etc/x', 'absolute'],
    ['a/../../x', 'a ".." segment'],
    ['a\\..\\x', 'backslash'],
    ['a\\b', 'backslash'],
    ['a//b', 'empty segment'],
    ['a/', 'empty segment'],
    ['.', 'a "." segment'],
    ['./a', 'a "." segment'],
    ['a/./b', 'a "." segment'],
    ['..', 'a ".." segment'],
    ['', 'empty'],
    ['a\0b', 'NUL'],
    ['C:/x', 'drive letter'],
  ])('rejects the path %j (%s) with UNSAFE_PATH', (p, why) => {
    const e = parseError(raw([file(p)]));
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toContain(JSON.stringify(p));
    expect(e.message).toContain(why);
  });

  it('rejects paths inside the reserved .flowsync/ folder', () => {
    expect(parseError(raw([file('.flowsync/manifest.json')])).code).toBe('BAD_MANIFEST');
    expect(parseError(raw([file('.flowsync')])).code).toBe('BAD_MANIFEST');
    expect(parseManifest(raw([file('.flowsyncx')])).files).toHaveLength(1); // only that exact folder
  });

  it('rejects duplicates and a path listed as a file and as a folder', () => {
    expect(parseError(raw([file('a'), file('a', SHA('b'))])).message).toContain('listed twice');
    expect(parseError(raw([file('a'), file('a/b')])).message).toMatch(/"a" is listed as a file and as a folder of "a\/b"/);
    expect(parseError(raw([link('a', 'x'), file('x'), file('a/b')])).code).toBe('BAD_MANIFEST');
  });

  it.each([
    ['l', '../x', 'leaves the tree'],
    ['l', '/etc/passwd', 'leaves the tree'],
    ['d/l', '../../x', 'leaves the tree'],
    ['d/l', '../d/../../x', 'leaves the tree'],
    ['l', 'a\\..\\..\\x', 'leaves the tree'],
    ['l', '..', 'leaves the tree'],
  ])('rejects a link %j -> %j (%s)', (p, target, why) => {
    const e = parseError(raw([link(p, target)]));
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toContain(why);
  });

  it('rejects a link whose target escapes through another link', () => {
    // d/up -> .. is fine on its own (the root); x -> d/up/../.. would be too, lexically, but
    // through the link d/up it climbs one level above the root.
    expect(parseManifest(raw([link('d/up', '..')])).files).toHaveLength(1);
    const e = parseError(raw([link('d/up', '..'), link('x', 'd/up/../..')]));
    expect(e.code).toBe('UNSAFE_PATH');
    // Either check may fire first; both name the problem.
    expect(e.message).toMatch(/leaves the tree|passes through the link "d\/up"/);
    const through = parseError(raw([link('d/up', '..'), link('y', 'd/up/z')]));
    expect(through.message).toContain('passes through the link "d/up"');
  });

  it('accepts links that stay inside, including to a folder and to another link', () => {
    const m = parseManifest(raw([file('a/f'), link('a/l', 'f'), link('b/to-a', '../a'), link('c', 'a/l'), link('d/root', '..')]));
    expect(m.files).toHaveLength(5);
    expect(resolveLinkTarget('b/to-a', '../a')).toBe('a');
    expect(resolveLinkTarget('d/root', '..')).toBe('');
    expect(resolveLinkTarget('l', '../x')).toBeNull();
  });

  it.each([
    [{ path: 'a', size: 1, mode: 420, sha256: 'A'.repeat(64) }, 'sha256'],
    [{ path: 'a', size: 1, mode: 420, sha256: 'a'.repeat(63) }, 'sha256'],
    [{ path: 'a', size: 1, mode: 420 }, 'sha256'],
    [{ path: 'a', size: 1, mode: 0o777, sha256: SHA('a') }, 'mode'],
    [{ path: 'a', size: 1, mode: '420', sha256: SHA('a') }, 'mode'],
    [{ path: 'a', size: -1, mode: 420, sha256: SHA('a') }, 'size'],
    [{ path: 'a', size: 1.5, mode: 420, sha256: SHA('a') }, 'size'],
    [{ path: 'a', size: '1', mode: 420, sha256: SHA('a') }, 'size'],
    [{ path: 'a', link: '' }, 'link'],
    [{ path: 'a', link: 5 }, 'link'],
    [{ path: 5, size: 1, mode: 420, sha256: SHA('a') }, 'path'],
    ['a string', 'not an object'],
  ])('rejects a bad entry %j (%s)', (entry, what) => {
    const e = parseError(raw([entry]));
    expect(e.code).toBe('BAD_MANIFEST');
    expect(e.message).toContain(what);
  });

  it('refuses a higher version with UNSUPPORTED_VERSION and a fix', () => {
    const e = parseError(raw([], { version: 2 }));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/version 2.*Upgrade flowsync/);
  });

  it.each([
    ['not json {', 'not valid JSON'],
    ['[]', 'not a JSON object'],
    ['null', 'not a JSON object'],
    [raw([], { format: 'other' }), '"format"'],
    [raw([], { version: 0 }), '"version"'],
    [raw([], { version: '1' }), '"version"'],
    [raw([], { layout: 'packed' }), 'layout'],
    [raw([], { createdAt: 5 }), 'createdAt'],
    [raw([], { files: {} }), '"files"'],
  ])('rejects a malformed manifest %j', (text, what) => {
    const e = parseError(text);
    expect(e.code).toBe('BAD_MANIFEST');
    expect(e.message).toContain(what);
    expect(e.message).toMatch(/[Pp]ush again/); // names the fix
  });

  it('parses an empty file list', () => {
    const m: Manifest = parseManifest(raw([]));
    expect(m.files).toEqual([]);
    expect(Buffer.from(serializeManifest(m)).toString()).toContain('"files":[]}');
  });
});

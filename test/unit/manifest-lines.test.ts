/**
 * A manifest's bytes are read a line at a time when they are in the layout serializeManifest
 * writes (manifest/manifest-lines.ts), and whole otherwise. Both must give the same manifest, or
 * the same refusal, for any input: the whole-document parse (a string input) is the oracle.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { createManifest, parseManifest, serializeManifest } from '../../src/manifest/codec.js';
import { manifestLines } from '../../src/manifest/manifest-lines.js';
import { MANIFEST_MAX_DEPTH } from '../../src/manifest/limits.js';
import type { ManifestEntry } from '../../src/manifest/types.js';

const DATE = new Date('2026-01-02T03:04:05.006Z');
const ENTRIES: ManifestEntry[] = [
  { path: 'a.py', size: 3, mode: 420, sha256: 'a'.repeat(64), tag: 't-1' },
  { path: 'bin/run', size: 0, mode: 493, sha256: 'b'.repeat(64) },
  { path: 'docs/l\u00e9ame.md', size: 12, mode: 420, sha256: 'c'.repeat(64) },
  { path: 'link', link: 'a.py' },
];
const TEXT = Buffer.from(serializeManifest({ ...createManifest(ENTRIES, DATE), extra: { note: 'kept' } })).toString('utf8');

type Outcome = { manifest: unknown } | { code: string };

function outcome(input: Uint8Array | string): Outcome {
  try {
    return { manifest: parseManifest(input, 'test') };
  } catch (err) {
    if (!isFlowsyncError(err)) throw err;
    return { code: err.code };
  }
}

/** The same answer from the bytes (line reader when it applies) as from the text (whole parse). */
function expectSameAsWhole(text: string): Outcome {
  const whole = outcome(text);
  expect(outcome(Buffer.from(text, 'utf8'))).toEqual(whole);
  return whole;
}

describe('reading a manifest a line at a time', () => {
  it('takes what serializeManifest writes, and reads it as the whole parse does', () => {
    const lines = manifestLines(Buffer.from(TEXT), MANIFEST_MAX_DEPTH);
    expect(lines?.head).toMatchObject({ format: 'flowsync-manifest', note: 'kept' });
    expect([...lines!.entries()]).toHaveLength(ENTRIES.length);
    expect(expectSameAsWhole(TEXT)).toMatchObject({ manifest: { files: ENTRIES, extra: { note: 'kept' } } });
    const empty = Buffer.from(serializeManifest(createManifest([], DATE))).toString('utf8');
    expect(expectSameAsWhole(empty)).toMatchObject({ manifest: { files: [] } });
  });

  it('gives any other layout to the whole parse: same manifest or same refusal', () => {
    const [head, ...rest] = TEXT.split('\n');
    const body = rest.join('\n');
    const cases = [
      TEXT.replace('"files":[', '"files":[1],"files":['), // a second "files": the later one wins
      `{ ,"files":[\n${body}`, // `{ ,` is not JSON
      `${head}\n${rest[0]!.replace('"size"', '\n"size"')}\n${rest.slice(1).join('\n')}`, // an entry over two lines
      TEXT.replace(/\n\]\}\n$/, ',\n]}\n'), // a trailing comma
      TEXT.replace(/\]\}\n$/, ''), // no end
      `${TEXT}{}`, // something after the end
      TEXT.replace(/\n/g, '\r\n'),
      TEXT.replace('"tag":"t-1"', `"tag":"t-1","x":${'['.repeat(MANIFEST_MAX_DEPTH)}${']'.repeat(MANIFEST_MAX_DEPTH)}`), // too deep
      TEXT.replace('"path":"a.py"', '"path":"../a.py"'), // unsafe, in a line the reader takes
      TEXT.replace('"path":"bin/run"', '"path":"a.py"'), // listed twice
      TEXT.replace(',\n{"path":"bin/run"', '\n{"path":"bin/run"'), // a missing comma
    ];
    const outcomes = cases.map((c) => expectSameAsWhole(c));
    expect(outcomes.filter((o) => 'code' in o).length).toBeGreaterThanOrEqual(7);
  });

  it('agrees with the whole parse after any one-character edit (property)', () => {
    fc.assert(
      fc.property(fc.nat(TEXT.length), fc.constantFrom('', ' ', '\n', ',', '"', '{', ']', '\\'), fc.boolean(), (at, ch, replace) => {
        expectSameAsWhole(TEXT.slice(0, at) + ch + TEXT.slice(replace ? at + 1 : at));
      }),
      { numRuns: 500 },
    );
  });
});

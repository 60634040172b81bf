/** The packed manifest (format version 2): deterministic bytes, the head line, validation, and older readers refusing it. */
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { manifestId, parseManifest } from '../../src/manifest/codec.js';
import { createPackedManifest, looksPacked, parsePackedManifest, parseVersionHead, serializePackedManifest, type PackedEntry } from '../../src/manifest/packed.js';

const SHA = (c: string) => c.repeat(64);
const DATE = new Date('2026-01-02T03:04:05.006Z');
const packs = [{ sha256: SHA('p'.replace('p', 'e')), size: 4096 }];
const entries: PackedEntry[] = [
  { path: 'b.txt', size: 10, mode: 420, sha256: SHA('a'), pack: 0, offset: 512 },
  { path: 'big.bin', size: 5 << 20, mode: 493, sha256: SHA('b') },
  { path: 'empty', size: 0, mode: 420, sha256: SHA('c') },
  { path: 'l', link: 'b.txt' },
];
const provenance = { flowsync: '0.1.0', host: 'box', git: { commit: SHA('d').slice(0, 40), dirty: true } };
const manifest = () => createPackedManifest({ files: entries, packs, provenance, message: 'first "one"\nsecond line', createdAt: DATE });

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (!isFlowsyncError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('accepted');
}

/** A packed manifest as text, edited: inputs flowsync never writes. */
function edited(change: (o: Record<string, unknown>) => void): Buffer {
  const o = JSON.parse(Buffer.from(serializePackedManifest(manifest())).toString('utf8')) as Record<string, unknown>;
  change(o);
  return Buffer.from(JSON.stringify(o));
}

describe('packed manifest', () => {
  it('round-trips, gives the same bytes for the same version, and starts with a head line', () => {
    const bytes = serializePackedManifest(manifest());
    expect(Buffer.from(serializePackedManifest(createPackedManifest({ files: [...entries].reverse(), packs, provenance, message: 'first "one"\nsecond line', createdAt: DATE }))).equals(Buffer.from(bytes))).toBe(true);
    expect(looksPacked(bytes)).toBe(true);
    const back = parsePackedManifest(bytes, 'test');
    expect(back).toEqual(manifest());
    expect(manifestId(serializePackedManifest(back))).toBe(manifestId(bytes));
    const head = parseVersionHead(Buffer.from(bytes).subarray(0, Buffer.from(bytes).indexOf('\n') + 1), 'test');
    expect(head).toEqual({ createdAt: DATE.toISOString(), counts: { files: 3, bytes: 10 + (5 << 20) }, message: 'first "one"\nsecond line', provenance });
    expect(parseVersionHead(Buffer.from(bytes).subarray(0, 40), 'test')).toBeNull();
  });

  it('is refused by the version-1 (mirror) reader as a newer version, never read as mirror', () => {
    const e = errorOf(() => parseManifest(serializePackedManifest(manifest()), 'test'));
    expect(e.code).toBe('UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/version 2.*Upgrade flowsync/);
  });

  it('refuses pack references outside the list, offsets outside the pack, bad sizes and counts', () => {
    const withFile = (f: Record<string, unknown>) => edited((o) => ((o.files as unknown[])[0] = { ...((o.files as unknown[])[0] as object), ...f }));
    expect(errorOf(() => parsePackedManifest(withFile({ pack: 1 }), 't')).message).toMatch(/files\[0\]\.pack is not one of the 1 listed packs/);
    expect(errorOf(() => parsePackedManifest(withFile({ offset: 3584 }), 't')).message).toMatch(/lies outside its pack/);
    expect(errorOf(() => parsePackedManifest(withFile({ offset: 100 }), 't')).message).toMatch(/lies outside its pack/);
    expect(errorOf(() => parsePackedManifest(withFile({ offset: undefined }), 't')).message).toMatch(/outside its pack/);
    expect(errorOf(() => parsePackedManifest(withFile({ path: '../x' }), 't')).code).toBe('UNSAFE_PATH');
    expect(errorOf(() => parsePackedManifest(withFile({ size: 11 }), 't')).message).toMatch(/"counts"/);
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.packs = [{ sha256: 'x', size: 4096 }])), 't')).message).toMatch(/packs\[0\]\.sha256/);
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.packs = [{ sha256: SHA('e'), size: 1000 }])), 't')).message).toMatch(/packs\[0\]\.size/);
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.layout = 'mirror')), 't')).code).toBe('BAD_MANIFEST');
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.version = 3)), 't')).code).toBe('UNSUPPORTED_VERSION');
    expect(errorOf(() => parsePackedManifest(Buffer.from('{"format":'), 't')).code).toBe('BAD_MANIFEST');
    expect(errorOf(() => parsePackedManifest(edited((o) => ((o.files as unknown[]).push({ path: 'x', link: '../../etc' }))), 't')).code).toBe('UNSAFE_PATH');
  });

  it('carries what it retains (sorted, only when there is some) and refuses a hostile retained list', () => {
    const retained = [
      { sha256: SHA('f'), size: 7, pack: 0, offset: 1024, age: 2 },
      { sha256: SHA('9'), size: 3 << 20, age: 1 },
    ];
    const m = createPackedManifest({ files: entries, packs, provenance, createdAt: DATE, retained });
    const bytes = serializePackedManifest(m);
    expect(Buffer.from(bytes).toString('utf8')).toMatch(/\],\n"retained":\[\n?\{"sha256":"9{64}","size":3145728,"age":1\}/);
    expect(parsePackedManifest(bytes, 't').retained).toEqual([retained[1], retained[0]]);
    expect(Buffer.from(serializePackedManifest(manifest())).toString('utf8')).not.toMatch(/retained/);
    const withRetained = (r: unknown) => edited((o) => (o.retained = [r]));
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('f'), size: 7, age: 0 }), 't')).message).toMatch(/retained\[0\]\.age is not 1 to 10/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('f'), size: 7, age: 11 }), 't')).message).toMatch(/retained\[0\]\.age/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('a'), size: 10, age: 1 }), 't')).message).toMatch(/retained\[0\] is a content the files list/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('f'), size: 7, pack: 1, offset: 512, age: 1 }), 't')).message).toMatch(/retained\[0\]\.pack is not one of the 1 listed packs/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('f'), size: 7, pack: 0, offset: 3584, age: 1 }), 't')).message).toMatch(/retained\[0\] lies outside its pack/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: 'f', size: 7, age: 1 }), 't')).message).toMatch(/retained\[0\]\.sha256/);
    expect(errorOf(() => parsePackedManifest(withRetained({ sha256: SHA('f'), size: 0, age: 1 }), 't')).message).toMatch(/retained\[0\]\.size/);
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.retained = [{ sha256: SHA('f'), size: 7, age: 1 }, { sha256: SHA('f'), size: 7, age: 2 }])), 't')).message).toMatch(/retained\[1\].*listed twice/);
    expect(errorOf(() => parsePackedManifest(edited((o) => (o.retained = {})), 't')).message).toMatch(/"retained" is not an array/);
  });

  it('limits the message length', () => {
    expect(errorOf(() => createPackedManifest({ files: [], packs: [], provenance, message: 'x'.repeat(5000) })).code).toBe('USAGE');
  });
});

/** Packs (DESIGN §5.2): plain tars that `tar` lists and extracts, members named by sha256, exact offsets, refused when damaged. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { buildPack, memberBytes, packSizeFor } from '../../src/pack/tar-pack.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const contents = [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.alloc(512, 7), Buffer.alloc(513, 9), Buffer.from('x'.repeat(70_000))];
const members = contents.map((data) => ({ sha256: sha(data), data }));

describe('buildPack', () => {
  it('writes a tar whose members are named by sha256 and whose offsets point at their data', async () => {
    const p = await buildPack(members);
    expect(p.bytes.length).toBe(packSizeFor(contents.map((c) => c.length)));
    expect(p.sha256).toBe(sha(p.bytes));
    for (const [i, m] of p.members.entries()) {
      expect(m.sha256).toBe(members[i]!.sha256);
      expect(p.bytes.subarray(m.offset, m.offset + m.size).equals(contents[i]!)).toBe(true);
      expect(memberBytes(p.bytes, 0, { ...m }, 'test').equals(contents[i]!)).toBe(true);
    }
    // The system tar is the oracle: it lists the names and extracts the same bytes.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-pack-'));
    try {
      const file = path.join(dir, 'p.tar');
      fs.writeFileSync(file, p.bytes);
      const listed = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
      expect(listed).toEqual(members.map((m) => m.sha256));
      execFileSync('tar', ['-xf', file, '-C', dir]);
      for (const m of members) expect(fs.readFileSync(path.join(dir, m.sha256)).equals(m.data)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is deterministic: the same members give the same bytes and name', async () => {
    const [a, b] = await Promise.all([buildPack(members), buildPack(members)]);
    expect(a.sha256).toBe(b.sha256);
    expect(a.bytes.equals(b.bytes)).toBe(true);
  });

  it('reads a member out of a ranged read that starts mid-pack', async () => {
    const p = await buildPack(members);
    const m = p.members[3]!;
    const start = m.offset - 512;
    const read = p.bytes.subarray(start, m.offset + m.size + 100);
    expect(memberBytes(read, start, m, 'test').equals(contents[3]!)).toBe(true);
  });

  it('refuses a member whose bytes do not match their sha256, and a short read', async () => {
    const p = await buildPack(members);
    const m = p.members[1]!;
    const damaged = Buffer.from(p.bytes);
    damaged[m.offset] = damaged[m.offset]! ^ 0xff;
    const err = (() => {
      try {
        memberBytes(damaged, 0, m, 'pack X');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(isFlowsyncError(err, 'CHECKSUM_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(m.sha256);
    expect(() => memberBytes(p.bytes.subarray(0, m.offset + 2), 0, m, 'pack X')).toThrow(/short/);
  });
});

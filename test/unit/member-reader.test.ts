/** Members on demand: files sharing a planned read wait for one request; bytes are verified; a read is dropped when its files are served. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/backends/memory.js';
import { isFlowsyncError } from '../../src/errors.js';
import { packKey } from '../../src/pack/layout.js';
import { createMemberReader } from '../../src/pack/member-reader.js';
import { buildPack } from '../../src/pack/tar-pack.js';
import { ByteBudget } from '../../src/transfer/budget.js';
import { Progress } from '../../src/util/progress.js';
import { counting } from '../helpers/counting-backend.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('createMemberReader', () => {
  it('serves many files from one coalesced read, each member checked', async () => {
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`member ${i} `.repeat(50 + i)));
    const pack = await buildPack(contents.map((data) => ({ sha256: sha(data), data })));
    const memory = createMemoryBackend();
    const backend = counting(memory);
    await memory.write(packKey('p', pack.sha256), pack.bytes, { size: pack.bytes.length });
    const ref = { sha256: pack.sha256, size: pack.bytes.length };
    const ctx = { backend, budget: new ByteBudget(64 << 20), progress: new Progress(), partConcurrency: 1 };
    // Members 2..6 (neighbours) and member 2 again at a second path.
    const wanted = [2, 3, 4, 5, 6, 2].map((i) => ({ ...pack.members[i]!, pack: ref }));
    const reader = createMemberReader(ctx, 'p', wanted, { gapMax: 1024, wholeFraction: 0.9 });
    const signal = new AbortController().signal;
    const got = await Promise.all(wanted.map((w) => reader.read(w.sha256, signal)));
    got.forEach((g, i) => expect(g.equals(contents[[2, 3, 4, 5, 6, 2][i]!]!)).toBe(true));
    expect(backend.count('read')).toBe(1);
    expect(backend.calls[0]!.range).toEqual([pack.members[2]!.offset, pack.members[6]!.offset + pack.members[6]!.size]);

    // Damaged bytes are refused (after the transfer layer's retries).
    const damaged = Buffer.from(pack.bytes);
    damaged[pack.members[8]!.offset] = damaged[pack.members[8]!.offset]! ^ 1;
    await memory.write(packKey('p', pack.sha256), damaged, { size: damaged.length });
    const bad = createMemberReader(ctx, 'p', [{ ...pack.members[8]!, pack: ref }]);
    const err = await bad.read(pack.members[8]!.sha256, signal).catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'CHECKSUM_MISMATCH')).toBe(true);
  });
});

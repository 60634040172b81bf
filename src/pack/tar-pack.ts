/**
 * Packs: plain POSIX tars (tar-stream) of small files' contents, one member per content, named by
 * its sha256, so `tar -tf` lists them and `tar -x` gives the contents. Every header is a fixed
 * ustar block (64-character ASCII names, mode 0644, uid/gid 0, mtime 0), so the same members give
 * the same bytes, the pack's sha256 names it, and each member's data offset is known exactly:
 * header at `pos`, data at `pos + 512`, padded to the next block.
 */
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { FlowsyncError } from '../errors.js';
import { TAR_BLOCK } from '../manifest/packed.js';

export interface PackMemberInput {
  sha256: string;
  data: Uint8Array;
}

export interface PackedMember {
  sha256: string;
  /** Offset of the member's data inside the pack. */
  offset: number;
  size: number;
}

export interface BuiltPack {
  bytes: Buffer;
  sha256: string;
  members: PackedMember[];
}

const padded = (n: number) => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;

/** Bytes a member takes in a pack: its header block and its padded data. */
export function memberFootprint(size: number): number {
  return TAR_BLOCK + padded(size);
}

/** The size of a pack holding members of these sizes (headers, padding, the two end blocks). */
export function packSizeFor(sizes: Iterable<number>): number {
  let total = 2 * TAR_BLOCK;
  for (const s of sizes) total += memberFootprint(s);
  return total;
}

/** Build a pack in memory. Members must have distinct sha256 names. */
export function buildPack(members: readonly PackMemberInput[]): Promise<BuiltPack> {
  return buildPackFrom(members.map((m) => ({ sha256: m.sha256, size: m.data.length })), async (i) => members[i]!.data);
}

/** Entries handed to the tar stream before waiting for it: enough to keep it busy, few held at once. */
const ENTRY_WINDOW = 32;

/**
 * Build a pack of members whose sizes are known, reading each member's bytes only when its turn
 * comes (`read(i)`): the pack's own buffer (its size is known up front) is the only big
 * allocation, and a member's bytes are dropped once the tar stream has copied them.
 */
export async function buildPackFrom(members: readonly { sha256: string; size: number }[], read: (i: number) => Promise<Uint8Array>): Promise<BuiltPack> {
  const pack = tar.pack();
  const bytes = Buffer.allocUnsafe(packSizeFor(members.map((m) => m.size)));
  const hash = createHash('sha256');
  let filled = 0;
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      if (filled + chunk.length > bytes.length) throw new FlowsyncError('INTERNAL', `pack layout mismatch: more than ${bytes.length} B written`);
      chunk.copy(bytes, filled);
      hash.update(chunk);
      filled += chunk.length;
    }
  })();
  collected.catch(() => {}); // awaited below; a read failure must not leave it unhandled
  const placed: PackedMember[] = [];
  let pos = 0;
  const epoch = new Date(0);
  let pending: Promise<void>[] = [];
  try {
    for (const [i, m] of members.entries()) {
      const data = await read(i);
      if (data.length !== m.size) throw new FlowsyncError('FILE_CHANGED', `member ${m.sha256} has ${data.length} B, ${m.size} B were planned`);
      const header = { name: m.sha256, size: data.length, mode: 0o644, mtime: epoch, uid: 0, gid: 0, type: 'file' as const };
      pending.push(new Promise<void>((resolve, reject) => pack.entry(header, Buffer.from(data.buffer, data.byteOffset, data.length), (err) => (err ? reject(err) : resolve()))));
      placed.push({ sha256: m.sha256, offset: pos + TAR_BLOCK, size: m.size });
      pos += memberFootprint(m.size);
      if (pending.length >= ENTRY_WINDOW) {
        await Promise.all(pending);
        pending = [];
      }
    }
    pack.finalize();
    await Promise.all([...pending, collected]);
  } catch (err) {
    pack.destroy();
    throw err;
  }
  // The offsets above assume one header block per member; a name or size that needed an extended
  // header would break that, so check instead of trusting it.
  if (filled !== pos + 2 * TAR_BLOCK || filled !== bytes.length) {
    throw new FlowsyncError('INTERNAL', `pack layout mismatch: ${filled} B written, ${pos + 2 * TAR_BLOCK} B expected`);
  }
  return { bytes, sha256: hash.digest('hex'), members: placed };
}

/**
 * One member's bytes out of a read that starts at `readStart` in its pack, checked against its
 * sha256: a pack whose member bytes do not match is refused.
 */
export function memberBytes(read: Buffer, readStart: number, member: { offset: number; size: number; sha256: string }, what: string): Buffer {
  const start = member.offset - readStart;
  if (start < 0 || start + member.size > read.length) {
    throw new FlowsyncError('CHECKSUM_MISMATCH', `${what}: the pack read is short (member at ${member.offset}, ${member.size} B; read ${readStart}+${read.length} B). The pack was damaged; re-run the pull.`);
  }
  const data = read.subarray(start, start + member.size);
  const got = createHash('sha256').update(data).digest('hex');
  if (got !== member.sha256) {
    throw new FlowsyncError('CHECKSUM_MISMATCH', `${what}: the pack's bytes at offset ${member.offset} hash to ${got}, not ${member.sha256}. The pack is damaged or was replaced; push again from the source folder.`);
  }
  return data;
}

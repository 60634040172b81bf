/**
 * Pack members on demand, for a pull that asks file by file: the reads are planned once for all
 * the members wanted (`planPackReads`: ranges, neighbours coalesced, whole packs), and the first
 * file that needs a read starts it; the files sharing that read wait for the same request. A
 * read's bytes are dropped once every file that wanted one of its members has taken it, so
 * memory holds only the reads in use (files come in path order, which is the packs' order).
 */
import { FlowsyncError } from '../errors.js';
import { planPackReads, type PackRead, type ReadOptions, type WantedMember } from '../plan/pack-plan.js';
import type { TransferContext } from '../transfer/context.js';
import { readPackRange } from './pack-io.js';

export interface MemberReader {
  /** The verified bytes of the member with this sha256 (each call takes one of its wanted uses). */
  read(sha256: string, signal: AbortSignal): Promise<Buffer>;
}

interface ReadState {
  read: PackRead;
  /** Uses left (files still to take a member of this read). */
  left: number;
  result?: Promise<Map<string, Buffer>>;
}

/** `wanted`: one entry per file to place (a content wanted at two paths is listed twice). */
export function createMemberReader(ctx: TransferContext, prefix: string, wanted: readonly WantedMember[], o?: ReadOptions): MemberReader {
  const bySha = new Map<string, ReadState>();
  const uses = new Map<string, number>();
  for (const w of wanted) uses.set(w.sha256, (uses.get(w.sha256) ?? 0) + 1);
  for (const read of planPackReads(wanted, o)) {
    const state: ReadState = { read, left: read.members.reduce((n, m) => n + (uses.get(m.sha256) ?? 0), 0) };
    for (const m of read.members) bySha.set(m.sha256, state);
  }
  return {
    async read(sha256, signal) {
      const state = bySha.get(sha256);
      if (!state) throw new FlowsyncError('INTERNAL', `member ${sha256} was not planned for reading`);
      state.result ??= (async () => {
        const got = new Map<string, Buffer>();
        // The read's own signal: the first file's abort must not fail the files sharing the read.
        await readPackRange(ctx, prefix, state.read, (sha, data) => void got.set(sha, data), signal);
        return got;
      })();
      let members: Map<string, Buffer>;
      try {
        members = await state.result;
      } catch (err) {
        // A failed read is tried again by the next file that needs it (the pull retries per file).
        delete state.result;
        throw err;
      }
      const data = members.get(sha256)!;
      if (--state.left <= 0) delete state.result;
      return data;
    },
  };
}

/**
 * Pack members on demand, for a pull that asks file by file: the reads are planned once for all
 * the members wanted (`planPackReads`: ranges, neighbours coalesced, whole packs), and the first
 * file that needs a read starts it; the files sharing that read wait for the same request, and
 * the bytes are dropped once every file that wanted one of its members has taken it.
 */
import { FlowsyncError } from '../errors.js';
import { planPackReads, type PackRead, type ReadOptions, type WantedMember } from '../plan/pack-plan.js';
import type { TransferContext } from '../transfer/context.js';
import { fetchPackRange, type FetchedRange } from './pack-io.js';
import { memberBytes } from './tar-pack.js';

export interface MemberReader {
  /** The verified bytes of the member with this sha256 (each call takes one of its wanted uses). */
  read(sha256: string, signal: AbortSignal): Promise<Buffer>;
}

interface ReadState {
  read: PackRead;
  index: number;
  members: Map<string, PackRead['members'][number]>;
  /** Uses left (files still to take a member of this read). */
  left: number;
  result?: Promise<FetchedRange>;
}

/** Reads fetched ahead of the one the files in flight are at. */
const READ_AHEAD = 2;

/** `wanted`: one entry per file to place (a content wanted at two paths is listed twice). */
export function createMemberReader(ctx: TransferContext, prefix: string, wanted: readonly WantedMember[], o?: ReadOptions): MemberReader {
  const bySha = new Map<string, ReadState>();
  const uses = new Map<string, number>();
  for (const w of wanted) uses.set(w.sha256, (uses.get(w.sha256) ?? 0) + 1);
  const states: ReadState[] = planPackReads(wanted, o).map((read, index) => ({
    read,
    index,
    members: new Map(read.members.map((m) => [m.sha256, m])),
    left: read.members.reduce((n, m) => n + (uses.get(m.sha256) ?? 0), 0),
  }));
  for (const state of states) for (const m of state.read.members) bySha.set(m.sha256, state);
  // The budget bounds the bytes being fetched; once in memory they stay referenced until the
  // read's last file took its member (not held against the budget: a file waiting for budget
  // must never wait on files queued behind it). Files come in path order, the packs' order, so
  // the reads open at once are the current ones and the read-ahead.
  const start = (state: ReadState, signal: AbortSignal): Promise<FetchedRange> =>
    (state.result ??= fetchPackRange(ctx, prefix, state.read, signal).then((g) => {
      g.release();
      return g;
    }));
  return {
    async read(sha256, signal) {
      const state = bySha.get(sha256);
      if (!state) throw new FlowsyncError('INTERNAL', `member ${sha256} was not planned for reading`);
      const current = start(state, signal);
      // The files of the next reads are queued behind this one's: fetch those reads meanwhile.
      for (const next of states.slice(state.index + 1, state.index + 1 + READ_AHEAD)) {
        if (next.left > 0 && !next.result) start(next, signal).catch(() => {}); // its own files see the error
      }
      let got: FetchedRange;
      try {
        got = await current;
      } catch (err) {
        // The transfer failed for good (after the retry decorator's attempts): the next file of
        // this read asks again rather than inherit the failure.
        delete state.result;
        throw err;
      }
      try {
        // Each member is checked on its own: one damaged member fails only its own files.
        const member = state.members.get(sha256)!;
        const data = memberBytes(got.bytes, got.start, member, `pack ${state.read.pack.sha256}`);
        ctx.progress.advance(member.size);
        return data;
      } finally {
        // The last file of the read lets its bytes go.
        if (--state.left <= 0) delete state.result;
      }
    },
  };
}

/**
 * The record of what pulls placed in a folder, kept at `<dir>/.flowsync/state.json`. It is how
 * pull knows which local files are its own to replace or delete, and (through each file's stat
 * identity) which of them are untouched without reading them again.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsError, isFlowsyncError } from '../errors.js';
import { isReserved, RESERVED_DIR, unsafePathReason } from '../manifest/paths.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import type { Placed } from '../plan/pull-plan.js';
import type { StatIdentity } from '../hash/identity.js';
import { ensureFolder, writeFileAtomic } from '../util/atomic-write.js';

const FORMAT = 'flowsync-pull-state';

export interface PlacedFile extends Placed {
  /** Stat identity right after placing; a match means the file is untouched since. */
  id?: StatIdentity;
}

interface StoredRow {
  pending?: string;
  sha256?: string;
  link?: string;
  etag?: string;
  size?: number;
  mtimeMs?: number;
  ctimeMs?: number;
  ino?: number;
}

export function stateFile(dir: string): string {
  return path.join(dir, RESERVED_DIR, 'state.json');
}

export interface PullState {
  placed: Map<string, PlacedFile>;
  /** The last pull stopped without cleaning up (killed): temporary files may be left. */
  interrupted: boolean;
  /** Set when the record was unreadable or invalid: it was moved aside (named here) and not used. */
  setAside?: { reason: string; movedTo: string };
}

/** The record of a folder of a few million files stays far below this. */
const STATE_MAX_BYTES = 512 * 1024 * 1024;
const STATE_MAX_DEPTH = 8;
const SHA256_HEX = /^[0-9a-f]{64}$/;

class BadState extends Error {}

/** The record's rows, every path as strictly checked as a manifest path; throws BadState otherwise. */
function parseRows(text: string): { interrupted: boolean; rows: [string, StoredRow][] } {
  let parsed: unknown;
  try {
    parsed = parseBoundedJson(text, { what: 'the record', maxBytes: STATE_MAX_BYTES, maxDepth: STATE_MAX_DEPTH, code: 'IO', fix: '' });
  } catch (err) {
    throw new BadState(isFlowsyncError(err) ? err.message.trim() : String(err));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadState('it is not a JSON object');
  const obj = parsed as { format?: unknown; inProgress?: unknown; files?: unknown };
  if (obj.format !== FORMAT) throw new BadState(`"format" is ${JSON.stringify(obj.format)}, expected "${FORMAT}"`);
  if (typeof obj.files !== 'object' || obj.files === null || Array.isArray(obj.files)) throw new BadState('"files" is not an object');
  const rows: [string, StoredRow][] = [];
  for (const [p, r] of Object.entries(obj.files as Record<string, unknown>)) {
    const reason = unsafePathReason(p) ?? (isReserved(p) ? 'it is inside .flowsync/' : null);
    if (reason !== null) throw new BadState(`path ${JSON.stringify(p)} is unsafe: ${reason}`);
    if (typeof r !== 'object' || r === null) throw new BadState(`the row of ${JSON.stringify(p)} is not an object`);
    const row = r as Record<string, unknown>;
    for (const k of ['pending', 'link', 'etag'] as const) {
      if (row[k] !== undefined && (typeof row[k] !== 'string' || (row[k] as string).includes('\0'))) throw new BadState(`${k} of ${JSON.stringify(p)} is not a string`);
    }
    if (row.sha256 !== undefined && (typeof row.sha256 !== 'string' || !SHA256_HEX.test(row.sha256))) throw new BadState(`sha256 of ${JSON.stringify(p)} is not 64 hex digits`);
    for (const k of ['size', 'mtimeMs', 'ctimeMs', 'ino'] as const) {
      if (row[k] !== undefined && (typeof row[k] !== 'number' || !Number.isFinite(row[k]) || (row[k] as number) < 0)) throw new BadState(`${k} of ${JSON.stringify(p)} is not a non-negative number`);
    }
    rows.push([p, row as StoredRow]);
  }
  return { interrupted: obj.inProgress === true, rows };
}

export async function loadPullState(dir: string): Promise<PullState> {
  const state: PullState = { placed: new Map(), interrupted: false };
  const { placed } = state;
  let text: string;
  try {
    text = await fsp.readFile(stateFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
    throw fsError(err, 'read', stateFile(dir));
  }
  let parsed: ReturnType<typeof parseRows>;
  try {
    parsed = parseRows(text);
  } catch (err) {
    if (!(err instanceof BadState)) throw err;
    // Never act on a record that cannot be trusted (its paths drive deletes and temp sweeps):
    // keep it for inspection and start with none, so nothing counts as flowsync's.
    const movedTo = `${stateFile(dir)}.bad-${Date.now()}`;
    await fsp.rename(stateFile(dir), movedTo).catch((e: unknown) => {
      throw fsError(e, 'move aside', stateFile(dir));
    });
    state.setAside = { reason: err.message, movedTo };
    return state;
  }
  state.interrupted = parsed.interrupted;
  for (const [p, r] of parsed.rows) {
    const entry: PlacedFile = {};
    if (r.sha256) entry.sha256 = r.sha256;
    if (r.link) entry.link = r.link;
    if (r.etag) entry.etag = r.etag;
    if (r.pending) entry.pending = r.pending;
    if (r.size !== undefined && r.mtimeMs !== undefined && r.ctimeMs !== undefined && r.ino !== undefined) {
      entry.id = { size: r.size, mtimeMs: r.mtimeMs, ctimeMs: r.ctimeMs, ino: r.ino };
    }
    placed.set(p, entry);
  }
  return state;
}

/** `inProgress`: written before the first change and cleared at the end, so a kill is noticed. */
export async function savePullState(
  dir: string,
  placed: Map<string, PlacedFile>,
  about: { remote: string; manifest: string | null; inProgress: boolean },
): Promise<void> {
  const file = stateFile(dir);
  const head = JSON.stringify({ format: FORMAT, version: 1, remote: about.remote, manifest: about.manifest, ...(about.inProgress ? { inProgress: true } : {}) });
  // Written in pieces: for 100k files one object of rows and its JSON text cost ~70 MB at the
  // end of a pull, more than anything before it. The document is the one JSON.stringify gave.
  function* pieces(): Generator<string> {
    let text = `${head.slice(0, -1)},"files":{`;
    let first = true;
    for (const p of [...placed.keys()].sort((a, b) => (a < b ? -1 : 1))) {
      text += `${first ? '' : ','}${JSON.stringify(p)}:${JSON.stringify(storedRow(placed.get(p)!))}`;
      first = false;
      if (text.length >= 1 << 20) {
        yield text;
        text = '';
      }
    }
    yield `${text}}}\n`;
  }
  await ensureFolder(path.dirname(file));
  // Through a temporary file that is removed on every failure, disk full included.
  await writeFileAtomic(file, pieces());
}

function storedRow(e: PlacedFile): StoredRow {
  const row: StoredRow = {};
  if (e.sha256) row.sha256 = e.sha256;
  if (e.link) row.link = e.link;
  if (e.etag) row.etag = e.etag;
  if (e.pending) row.pending = e.pending;
  if (e.id) Object.assign(row, { size: e.id.size, mtimeMs: e.id.mtimeMs, ctimeMs: e.id.ctimeMs, ino: e.id.ino });
  return row;
}

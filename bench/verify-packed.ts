/**
 * A packed remote read without flowsync's reader: the current version's manifest parsed with
 * JSON.parse, every pack listed by GNU tar (`tar -tf`), each member's bytes hashed at the
 * offset the version records, a sample of members extracted by tar itself, every blob hashed.
 * A pull back through flowsync (checkPacked) cannot catch a bug its writer and reader share;
 * this can.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TreeFacts } from './data/tree.js';
import { Rng } from './data/rng.js';
import type { RemoteAdmin } from './infra/s3-admin.js';

interface StoredEntry {
  path: string;
  size?: number;
  sha256?: string;
  pack?: number;
  offset?: number;
  link?: string;
}

interface StoredVersion {
  packs?: { sha256: string; size: number }[];
  files?: StoredEntry[];
}

/** Members per pack that tar extracts itself (the rest are checked by offset). */
const TAR_SAMPLES = 8;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const short = (h: string | undefined) => (h ?? '?').slice(0, 12);

/** What is wrong with the packed remote at `loc` against the expected tree (empty: nothing). */
export async function packedStoreProblems(admin: RemoteAdmin, loc: { bucket: string; prefix: string }, expected: TreeFacts, seed: string): Promise<string[]> {
  const base = `${loc.prefix}/.flowsync/`;
  const problems: string[] = [];
  const version = JSON.parse((await admin.readObject(loc.bucket, `${base}manifest.json`)).toString('utf8')) as StoredVersion;
  const files = (version.files ?? []).filter((e) => e.link === undefined);
  const listed = new Map(files.map((e) => [e.path, e]));
  for (const [p, f] of expected) {
    const e = listed.get(p);
    if (!e) problems.push(`${p} is not in the current version`);
    else if (e.sha256 !== f.sha256 || e.size !== f.size) problems.push(`${p} is listed with other content (${e.size} B, ${short(e.sha256)})`);
  }
  for (const p of listed.keys()) if (!expected.has(p)) problems.push(`${p} is listed but not in the tree`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-pack-check-'));
  try {
    for (const [i, pack] of (version.packs ?? []).entries()) {
      const bytes = await admin.readObject(loc.bucket, `${base}packs/${pack.sha256}.tar`);
      if (sha256(bytes) !== pack.sha256) {
        problems.push(`pack ${short(pack.sha256)} does not hash to its name`);
        continue;
      }
      const file = path.join(tmp, `${pack.sha256}.tar`);
      writeFileSync(file, bytes);
      const names = new Set(execFileSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter(Boolean));
      const members = files.filter((e) => e.pack === i);
      for (const e of members) {
        if (!names.has(e.sha256 ?? '')) problems.push(`${e.path}: tar lists no member ${short(e.sha256)} in pack ${short(pack.sha256)}`);
        else if (sha256(bytes.subarray(e.offset ?? 0, (e.offset ?? 0) + (e.size ?? 0))) !== e.sha256) problems.push(`${e.path}: the bytes at offset ${e.offset} of pack ${short(pack.sha256)} are not its content`);
      }
      for (const e of new Rng(`${seed}:${pack.sha256}`).sample(members, TAR_SAMPLES)) {
        if (sha256(execFileSync('tar', ['-xOf', file, e.sha256 ?? ''], { maxBuffer: 64 << 20 })) !== e.sha256) problems.push(`${e.path}: tar extracts other bytes for member ${short(e.sha256)}`);
      }
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const e of files) {
    if (e.pack !== undefined || (e.size ?? 0) === 0) continue;
    const f = await admin.hashObject(loc.bucket, `${base}blobs/${e.sha256}`);
    if (f.sha256 !== e.sha256) problems.push(`${e.path}: its blob does not hash to ${short(e.sha256)}`);
  }
  return problems;
}

/**
 * Correctness checks after every scenario: a fast wrong answer is a failure.
 * - remote (S3): list the prefix; every expected file must be there with its size and MD5 (s3rver's
 *   ETag is the MD5 of the bytes it stored, multipart included) and nothing else may be (flowsync's
 *   own `.flowsync/` folder aside). A few objects are also read back and their SHA-256 compared,
 *   so the check does not rest on ETags alone.
 * - remote (local store) and pulled folders: every file read and hashed.
 */
import type { Location } from './contenders/types.js';
import { describeDiff, diffFacts, diffIsEmpty, hashTree, listAll, type TreeDiff, type TreeFacts } from './data/tree.js';
import { Rng } from './data/rng.js';
import type { S3Admin } from './infra/s3-admin.js';

/** flowsync's reserved folder, at the top of a remote prefix and of a pulled folder. */
export const RESERVED = '.flowsync';

export interface CheckResult {
  ok: boolean;
  diff: TreeDiff;
  /** Human summary of what is wrong ('' when ok). */
  problems: string;
  objects: number;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const SPOT_CHECKS = 4;
const SPOT_CHECK_MAX = 16 * 1024 * 1024;

export async function checkRemote(admin: S3Admin | null, loc: Location, expected: TreeFacts, sampleSeed: string): Promise<CheckResult> {
  if (loc.kind === 'local') return checkFolder(loc.dir, expected);
  if (!admin) throw new Error('No S3 admin client for an S3 location.');
  const objects = await admin.list(loc.bucket, loc.prefix);
  const base = `${loc.prefix}/`;
  const actual = new Map<string, { size: number; md5?: string; sha256?: string }>();
  const unhashable: string[] = [];
  for (const o of objects) {
    const rel = o.key.slice(base.length);
    if (rel === RESERVED || rel.startsWith(`${RESERVED}/`)) continue;
    if (MD5_HEX.test(o.etag)) actual.set(rel, { size: o.size, md5: o.etag });
    else unhashable.push(o.key);
  }
  for (const key of unhashable) {
    const f = await admin.hashObject(loc.bucket, key);
    actual.set(key.slice(base.length), { size: f.size, md5: f.md5, sha256: f.sha256 });
  }
  // Read a few objects back in full: the bytes, not only what the listing says about them.
  // Small ones only: s3rver computes a large object's ETag from the bytes it stored, and reading
  // a 1 GiB object back would cost more than the push being checked.
  const present = [...actual.keys()].filter((p) => expected.has(p) && expected.get(p)!.size <= SPOT_CHECK_MAX).sort();
  for (const rel of new Rng(sampleSeed).sample(present, SPOT_CHECKS)) {
    const f = await admin.hashObject(loc.bucket, base + rel);
    actual.set(rel, { size: f.size, md5: f.md5, sha256: f.sha256 });
  }
  const diff = diffFacts(expected, actual);
  return { ok: diffIsEmpty(diff), diff, problems: describeDiff(diff), objects: actual.size };
}

/** A folder (pulled tree or local store) against the expected files, every file hashed. */
export async function checkFolder(dir: string, expected: TreeFacts): Promise<CheckResult> {
  const paths = listAll(dir, [RESERVED]);
  const facts = await hashTree(dir, paths);
  const actual = new Map<string, { size: number; sha256: string }>();
  for (const [p, f] of facts) actual.set(p, { size: f.size, sha256: f.sha256 });
  const diff = diffFacts(expected, actual);
  return { ok: diffIsEmpty(diff), diff, problems: describeDiff(diff), objects: actual.size };
}

/** The keys under an S3 location that are not expected (for aligning a prefix before pulls). */
export async function extraKeys(admin: S3Admin, loc: { bucket: string; prefix: string }, expected: TreeFacts): Promise<string[]> {
  const base = `${loc.prefix}/`;
  return (await admin.list(loc.bucket, loc.prefix))
    .map((o) => o.key)
    .filter((k) => {
      const rel = k.slice(base.length);
      return !(rel === RESERVED || rel.startsWith(`${RESERVED}/`)) && !expected.has(rel);
    });
}


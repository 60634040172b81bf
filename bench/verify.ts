/**
 * Correctness checks after every scenario: a fast wrong answer is a failure.
 * - remote (S3, Azure), mirror layout: list the prefix; every expected file must be there with its
 *   size and MD5 (s3rver's ETag is the MD5 of the bytes it stored, multipart included; Azurite
 *   lists the Content-MD5 the client set; an object whose listing has no MD5 is read back) and
 *   nothing else may be (flowsync's own `.flowsync/` folder aside). A few objects are also read
 *   back and their SHA-256 compared, so the check does not rest on listings alone.
 * - remote, packed layout: nothing may be outside `.flowsync/`, the tree must come back whole
 *   from a pull into a scratch folder, every file hashed, and the stored packs must hold it as
 *   tar itself reads them (checkPacked; verify-packed.ts).
 * - remote (local store) and pulled folders: every file read and hashed.
 */
import type { Location } from './contenders/types.js';
import { describeDiff, diffFacts, diffIsEmpty, hashTree, listAll, type TreeDiff, type TreeFacts } from './data/tree.js';
import { Rng } from './data/rng.js';
import type { RemoteAdmin } from './infra/s3-admin.js';
import { packedStoreProblems } from './verify-packed.js';

/** flowsync's reserved folder, at the top of a remote prefix and of a pulled folder. */
export const RESERVED = '.flowsync';

export interface CheckResult {
  ok: boolean;
  diff: TreeDiff;
  /** Human summary of what is wrong ('' when ok). */
  problems: string;
  objects: number;
}

const SPOT_CHECKS = 4;
const SPOT_CHECK_MAX = 16 * 1024 * 1024;

export async function checkRemote(admin: RemoteAdmin | null, loc: Location, expected: TreeFacts, sampleSeed: string): Promise<CheckResult> {
  if (loc.kind === 'local') return checkFolder(loc.dir, expected);
  if (!admin) throw new Error(`No admin client for a ${loc.kind} location.`);
  const objects = await admin.list(loc.bucket, loc.prefix);
  const base = `${loc.prefix}/`;
  const actual = new Map<string, { size: number; md5?: string; sha256?: string }>();
  const unhashable: string[] = [];
  for (const o of objects) {
    const rel = o.key.slice(base.length);
    if (rel === RESERVED || rel.startsWith(`${RESERVED}/`)) continue;
    if (o.md5) actual.set(rel, { size: o.size, md5: o.md5 });
    else unhashable.push(o.key);
  }
  for (const key of unhashable) {
    const f = await admin.hashObject(loc.bucket, key);
    actual.set(key.slice(base.length), { size: f.size, md5: f.md5, sha256: f.sha256 });
  }
  // Read a few objects back in full: the bytes, not only what the listing says about them.
  // Small ones only: the listing's MD5 covers a large object, and reading
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

/**
 * A packed remote: its objects are named by content, so the listing says nothing about paths.
 * Nothing may be outside `.flowsync/` (§5.2); `pullInto` (flowsync's own pull, untimed, into
 * an empty scratch folder with an empty cache) must bring back exactly the expected tree; and
 * read without flowsync (JSON.parse, GNU tar, offsets, blob hashes) the store must hold it too,
 * so a bug flowsync's writer and reader share cannot pass.
 */
export async function checkPacked(
  admin: RemoteAdmin,
  loc: { bucket: string; prefix: string },
  expected: TreeFacts,
  pullInto: () => Promise<{ dir: string } | { error: string }>,
): Promise<CheckResult> {
  const base = `${loc.prefix}/`;
  const outside = (await admin.list(loc.bucket, loc.prefix)).map((o) => o.key.slice(base.length)).filter((rel) => !rel.startsWith(`${RESERVED}/`));
  const pulled = await pullInto();
  if ('error' in pulled) return { ok: false, diff: { missing: [], different: [], extra: [] }, problems: `pulling it back failed: ${pulled.error}`, objects: 0 };
  const r = await checkFolder(pulled.dir, expected);
  const stored = await packedStoreProblems(admin, loc, expected, loc.prefix);
  const found = [
    ...(outside.length > 0 ? [`${outside.length} object(s) outside ${RESERVED}/ (e.g. ${outside.slice(0, 3).join(', ')})`] : []),
    ...(stored.length > 0 ? [`read without flowsync: ${stored.length} problem(s) (${stored.slice(0, 3).join('; ')})`] : []),
    ...(r.ok ? [] : [r.problems]),
  ];
  return found.length === 0 ? r : { ...r, ok: false, problems: found.join('; ') };
}

/** The keys under a remote location that are not expected (for aligning a prefix before pulls). */
export async function extraKeys(admin: RemoteAdmin, loc: { bucket: string; prefix: string }, expected: TreeFacts): Promise<string[]> {
  const base = `${loc.prefix}/`;
  return (await admin.list(loc.bucket, loc.prefix))
    .map((o) => o.key)
    .filter((k) => {
      const rel = k.slice(base.length);
      return !(rel === RESERVED || rel.startsWith(`${RESERVED}/`)) && !expected.has(rel);
    });
}


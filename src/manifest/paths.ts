/**
 * The one definition of a safe relative path, shared by the manifest reader, the remote key
 * builder and pull's reading of a listing that has no manifest. A path is POSIX, relative,
 * with no empty, '.' or '..' segments, no backslash, no NUL. Unsafe paths are rejected, never
 * "cleaned".
 */
import { FlowsyncError } from '../errors.js';

/** Files flowsync keeps for itself, at the root of the remote prefix and of a pulled directory. */
export const RESERVED_DIR = '.flowsync';

/** A whole "." or ".." segment. */
const DOT_SEGMENT = /(?:^|\/)(\.\.?)(?:\/|$)/;

/** Why `path` is unsafe, or null when it is fine. (Substring tests, not a split: it runs for every manifest entry.) */
export function unsafePathReason(path: string): string | null {
  if (typeof path !== 'string') return 'it is not a string';
  if (path.length === 0) return 'it is empty';
  if (path.includes('\0')) return 'it contains a NUL character';
  if (path.includes('\\')) return 'it contains a backslash (only "/" separates folders)';
  if (path.startsWith('/')) return 'it is absolute';
  if (/^[A-Za-z]:/.test(path)) return 'it starts with a drive letter';
  if (path.includes('//') || path.endsWith('/')) return 'it has an empty segment ("//" or a trailing "/")';
  const dots = DOT_SEGMENT.exec(path);
  return dots ? `it has a "${dots[1]}" segment` : null;
}

export function assertSafePath(path: string, where: string): void {
  const reason = unsafePathReason(path);
  if (reason !== null) {
    throw new FlowsyncError(
      'UNSAFE_PATH',
      `Refusing path ${JSON.stringify(path)} in ${where}: ${reason}. A manifest path must be relative and stay inside its folder; the manifest was not written by flowsync. Nothing was written; push again from the source folder to replace it.`,
    );
  }
}

export function isReserved(path: string): boolean {
  return path === RESERVED_DIR || path.startsWith(RESERVED_DIR + '/');
}

/**
 * Resolve a symlink target given relative to the link's folder. Returns the in-tree POSIX path
 * it points to, or null when it leaves the tree (absolute targets always leave it).
 */
export function resolveLinkTarget(linkPath: string, target: string): string | null {
  if (target.length === 0 || target.startsWith('/') || target.includes('\0') || target.includes('\\')) return null;
  const parts = linkPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
  return parts.join('/');
}

/** Compare two paths by the bytes of their UTF-8 encoding (the manifest's sort order). */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length < b.length ? -1 : 1;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  // UTF-16 unit order is code point (so UTF-8 byte) order except for a surrogate, which stands for
  // a code point above U+FFFF, against a unit of U+E000..U+FFFF: there the order flips.
  if (x >= 0xd800 && y >= 0xd800 && x <= 0xdfff !== y <= 0xdfff) return x <= 0xdfff ? 1 : -1;
  return x < y ? -1 : 1;
}

/** `list` in manifest order: itself when already sorted (manifests are), else a sorted copy. */
function inPathOrder<T extends { path: string }>(list: readonly T[]): readonly T[] {
  for (let i = 1; i < list.length; i++) {
    if (compareUtf8(list[i - 1]!.path, list[i]!.path) >= 0) return [...list].sort((x, y) => compareUtf8(x.path, y.path));
  }
  return list;
}

/**
 * Visit two lists of entries together by path, in manifest order: `visit` once per path with the
 * entry each list has there (or undefined). A merge of two sorted lists, so a 100k-entry plan
 * builds no map of either side. Paths are unique within each list (manifests guarantee it).
 */
export function joinByPath<A extends { path: string }, B extends { path: string }>(
  a: readonly A[],
  b: readonly B[],
  visit: (x: A | undefined, y: B | undefined) => void,
): void {
  const xs = inPathOrder(a);
  const ys = inPathOrder(b);
  let i = 0;
  let j = 0;
  while (i < xs.length || j < ys.length) {
    const c = i >= xs.length ? 1 : j >= ys.length ? -1 : compareUtf8(xs[i]!.path, ys[j]!.path);
    if (c === 0) visit(xs[i++], ys[j++]);
    else if (c < 0) visit(xs[i++], undefined);
    else visit(undefined, ys[j++]);
  }
}

/**
 * Why the link at `linkPath` is unsafe given every link path of the tree, or null. A target must
 * resolve inside the tree without passing *through* another link: lexical resolution cannot see
 * where a link leads, so `a/l1/../x` could climb out if `a/l1` points upward.
 */
export function unsafeLinkReason(linkPath: string, target: string, linkPaths: ReadonlySet<string>): string | null {
  if (resolveLinkTarget(linkPath, target) === null) return 'its target leaves the tree';
  const parts = linkPath.split('/').slice(0, -1);
  const segments = target.split('/').filter((s) => s !== '' && s !== '.');
  for (const [i, seg] of segments.entries()) {
    if (seg === '..') parts.pop();
    else parts.push(seg);
    if (i < segments.length - 1 && linkPaths.has(parts.join('/'))) return `its target passes through the link ${JSON.stringify(parts.join('/'))}`;
  }
  return null;
}

/** A path that is listed both as a file and as a folder of another path ("a" and "a/b"), or null. */
export function fileFolderClash(paths: ReadonlySet<string>): [file: string, inside: string] | null {
  // Each folder is looked at once (the first path inside it adds it and its parents), not once per
  // path and level: a 100k-entry manifest has some 8k folders.
  const folders = new Map<string, string>();
  for (const p of paths) {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
      const folder = p.slice(0, i);
      if (folders.has(folder)) break;
      folders.set(folder, p);
    }
  }
  for (const [folder, inside] of folders) if (paths.has(folder)) return [folder, inside];
  return null;
}

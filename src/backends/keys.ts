/**
 * Object keys are built in exactly one place. A remote is a bucket plus a prefix folder; a
 * file's key is `<prefix>/<path>`, where `path` has passed `assertSafePath`. `prefix` and
 * `prefix/` are the same folder, and listing always uses the trailing slash so a sibling
 * `prefix2/` is never read.
 */
import { FlowsyncError } from '../errors.js';
import { assertSafePath, RESERVED_DIR } from '../manifest/paths.js';

/** Normalise a user-given prefix: no leading/trailing slashes, no empty/'.'/'..' segments. */
export function normalizePrefix(prefix: string | undefined | null): string {
  if (!prefix) return '';
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  if (trimmed.includes('\\') || trimmed.includes('\0')) {
    throw new FlowsyncError('USAGE', `Invalid folder ${JSON.stringify(prefix)}: use "/" to separate folders; backslashes and NUL are not allowed.`);
  }
  const segments = trimmed.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new FlowsyncError('USAGE', `Invalid folder ${JSON.stringify(prefix)}: it has an empty, "." or ".." segment.`);
  }
  return segments.join('/');
}

/** The listing prefix for a folder: '' for the root, otherwise 'prefix/'. */
export function folderPrefix(prefix: string): string {
  return prefix === '' ? '' : prefix + '/';
}

/** The object key of a tree-relative path under `prefix` (already normalised). */
export function keyFor(prefix: string, path: string): string {
  assertSafePath(path, 'a key');
  return folderPrefix(prefix) + path;
}

/** The tree-relative path of a key listed under `prefix`, or null if it is not inside it. */
export function pathOf(prefix: string, key: string): string | null {
  const fp = folderPrefix(prefix);
  if (!key.startsWith(fp)) return null;
  return key.slice(fp.length);
}

export function manifestKey(prefix: string): string {
  return folderPrefix(prefix) + RESERVED_DIR + '/manifest.json';
}

/** The mirror layout's write lease (DESIGN §5.1). */
export function leaseKey(prefix: string): string {
  return folderPrefix(prefix) + RESERVED_DIR + '/lease.json';
}

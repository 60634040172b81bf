/**
 * Bounds on what a manifest may say, so hostile or damaged input is refused at validation
 * instead of surfacing later as a crash or a misleading error ("object changed during the
 * pull" for a size no store can hold).
 */

/** 100k files make a ~12 MB manifest; 256 MiB leaves room for millions without reading gigabytes. */
export const MANIFEST_MAX_BYTES = 256 * 1024 * 1024;
/** A manifest nests 3 levels (top, files, entry); unknown fields kept for newer readers get some room. */
export const MANIFEST_MAX_DEPTH = 32;
/** The biggest object any supported store holds is Azure's ~190.7 TiB block blob; 2^48 B is above all. */
export const MAX_FILE_SIZE = 2 ** 48;
const MAX_TAG_LENGTH = 256;

/** Why `size` is refused, or null. */
export function validFileSize(size: number): string | null {
  return size > MAX_FILE_SIZE ? `is ${size} bytes, more than any object store holds (${MAX_FILE_SIZE})` : null;
}

/** The committed tag as stored, or null when it is not a short printable string. */
export function parseCommittedTag(tag: unknown): string | null {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH) return null;
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(tag) ? null : tag;
}

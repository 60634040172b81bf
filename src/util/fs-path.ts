/**
 * Paths under a folder, built without path.join's normalising: on a pull of 100k files join was
 * the largest single source of garbage (a few calls per file, each splitting and rebuilding the
 * whole path). Only for parts already known to be clean: `folder` resolved (path.resolve), a
 * `rel` checked like a manifest path ('/'-separated, no empty, "." or ".." segments).
 */
import path from 'node:path';

/** `path.join(folder, name)` for one file name. */
export function inFolder(folder: string, name: string): string {
  return folder.endsWith(path.sep) ? folder + name : folder + path.sep + name;
}

/** `path.join(folder, rel)` for a checked relative path. */
export function underFolder(folder: string, rel: string): string {
  return path.sep === '/' ? inFolder(folder, rel) : path.join(folder, rel);
}

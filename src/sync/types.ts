/** Options and results of the public operations (push, pull, status, scan, verify). */
import type { Remote, RemoteOptions } from '../backends/open.js';
import type { Manifest } from '../manifest/types.js';

export type { Phase, ProgressEvent } from '../util/progress.js';
import type { ProgressEvent } from '../util/progress.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export interface CommonOptions {
  /** Transfers in flight at once (default: the backend's). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  log?: Logger;
  /** Options for opening the remote (endpoint, credentials, a ready-made backend). */
  remoteOptions?: RemoteOptions;
  dryRun?: boolean;
}

export interface PushOptions extends CommonOptions {
  dir: string;
  /** Remote address (s3://, az://, gs://, file://, local path) or an opened remote. */
  remote: string | Remote;
  /** Ignore file; default `<dir>/.prefectignore` (missing → nothing ignored). */
  ignoreFile?: string;
  /** Remove remote files the previous manifest listed and the new one lacks (default true). */
  delete?: boolean;
  /** Upload the content of links instead of recording them (links leaving the tree included). */
  followLinks?: boolean;
  /** Part size for multipart uploads in bytes (default: the backend's). */
  partSize?: number;
  /** Stat-cache folder; false disables the cache. Default: the user cache dir. */
  cacheDir?: string | false;
  /** List the prefix and upload again every object that disagrees with the manifest (`--repair`). */
  repair?: boolean;
  /** Take over the write lease even when its holder may still run (`--break-lease`). */
  breakLease?: boolean;
  /** How long the write lease lasts between renewals (default 60 s). */
  leaseTtlMs?: number;
  /** Remote layout (DESIGN §5): given on a first push, then the remote's own; the other one converts it. */
  layout?: 'mirror' | 'packed';
  /** packed: a message recorded with the version (`flowsync log` shows it). */
  message?: string;
}

export interface PullOptions extends CommonOptions {
  remote: string | Remote;
  dir: string;
  /** Remove files flowsync placed earlier that the manifest no longer lists (default true). */
  delete?: boolean;
  /** Overwrite or delete local files flowsync did not place (default false: report a conflict). */
  force?: boolean;
  /**
   * Materialise the version complete in `<dir>.versions/<name>/`, then swap `<dir>` (a symlink)
   * to it in one rename (DESIGN §12). Default false: write into `<dir>` in place.
   */
  switch?: boolean;
  /** With `switch`: version folders kept, the current one included (default 3). */
  keep?: number;
  /** Folder of the content cache's parent (its `content/` subfolder); false: no content cache. Default: the user cache dir. */
  cacheDir?: string | false;
  /** Content cache size bound in bytes (default 10 GiB). */
  cacheSize?: number;
  /** Hard-link cache hits instead of copying them (placed files become read-only). */
  link?: boolean;
  /** How long to wait for another pull into the same folder (default 10 minutes). */
  lockWaitMs?: number;
  /** How long to wait for a push that holds the lease when objects disagree with the manifest (default 2 min). */
  waitMs?: number;
  /** packed: pull this version (its id, or a unique prefix of 8+ hex digits) instead of the current one. */
  version?: string;
}

export interface SyncSummary {
  command: 'push' | 'pull' | 'status';
  uploaded: number;
  downloaded: number;
  deleted: number;
  unchanged: number;
  /**
   * Entries set without moving bytes: a new or changed link, a mode change (push records them in
   * the manifest, pull creates the link or sets the mode). uploaded/downloaded count files whose
   * bytes moved, so the counts add up to the manifest's entries the same way on both sides.
   */
  updated: number;
  /** Bytes moved (uploaded or downloaded). */
  bytes: number;
  /** Id of the manifest now in effect (null when the remote has none). */
  manifest: string | null;
  durationMs: number;
  dryRun: boolean;
  /** Paths that were not touched because a local file flowsync did not place was in the way. */
  conflicts: string[];
  warnings: string[];
  /** Pull: of the files (and bytes) placed (`downloaded`, `bytes`), those copied from the machine's content cache instead of read from the remote. */
  fromCache?: number;
  cacheBytes?: number;
  /** Pull: the folder the files are in (with `switch`, the version folder `dir` now points to). */
  directory?: string;
}

export interface ScanOptions {
  dir: string;
  ignoreFile?: string;
  followLinks?: boolean;
  cacheDir?: string | false;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  log?: Logger;
}

export interface ScanResult {
  manifest: Manifest;
  warnings: string[];
  /** Files whose content was read (not answered by the stat cache). */
  filesRead: number;
  bytesRead: number;
}

export interface VerifyOptions {
  remote: string | Remote;
  dir?: string;
  remoteOptions?: RemoteOptions;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  /** Also download and hash every object (default: compare sizes and stored sha256 only). */
  deep?: boolean;
  /** Stat-cache folder for hashing `dir`; false disables the cache. Default: the user cache dir. */
  cacheDir?: string | false;
}

export interface VerifyProblem {
  path: string;
  where: 'remote' | 'local';
  /** Remote: missing, drifted (replaced, other size or content), stray (not in the manifest). */
  problem: 'missing' | 'drifted' | 'stray' | 'size' | 'sha256' | 'mode' | 'link' | 'extra';
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  manifest: string | null;
  checked: number;
  problems: VerifyProblem[];
  durationMs: number;
}

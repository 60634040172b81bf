/**
 * A remote argument is checked before anything runs: something that looks like a URL but is not
 * one flowsync knows (`s3:/x`, `s4://x`, `S3://x`, `gcs://x`) is bad usage (exit 2), never taken
 * as a local folder name — a typo'd `s3:/flows` would otherwise fill `./s3:/flows` with the upload.
 * A local path that really starts that way is written `./s3:/x`.
 */
import { FlowsyncError } from '../errors.js';
import { closest } from './closest.js';

const SUPPORTED = ['s3', 'az', 'gs', 'file'] as const;
/** Names people write for a store flowsync reaches under another scheme. */
const ALIASES: Record<string, string> = { gcs: 'gs', gcp: 'gs', google: 'gs', azure: 'az', abfs: 'az', abfss: 'az', wasb: 'az', wasbs: 'az', aws: 's3', s3a: 's3', s3n: 's3', minio: 's3' };
const HTTP = new Set(['http', 'https']);

/** `scheme:` then `/` or `\`, or a known scheme name right before the colon (`s3:bucket`). */
const URL_LIKE = /^([A-Za-z][A-Za-z0-9+.-]*):(\/*|\\*)(.*)$/s;

/** Returns the remote unchanged when it is usable; throws USAGE naming the closest scheme otherwise. */
export function checkRemoteArg(remote: string): string {
  const m = URL_LIKE.exec(remote);
  if (!m) return remote;
  const [, scheme = '', slashes = '', rest = ''] = m;
  // file:///abs/path: the URL's own two slashes, then the path's leading one.
  if ((SUPPORTED as readonly string[]).includes(scheme) && slashes === (scheme === 'file' ? '///' : '//')) return remote;
  const lower = scheme.toLowerCase();
  // A Windows drive letter (C:\flows, C:/flows) is a local path.
  if (process.platform === 'win32' && scheme.length === 1 && slashes !== '') return remote;
  const known = (SUPPORTED as readonly string[]).includes(lower) || lower in ALIASES || HTTP.has(lower);
  if (slashes === '' && !known) return remote; // "notes:2024" is a folder name, not a URL
  const local = `./${remote}`;
  if (HTTP.has(lower)) {
    throw new FlowsyncError(
      'USAGE',
      `Unsupported remote ${remote}: an http(s) address is an endpoint, not a remote. For an S3-compatible store write s3://<bucket>/<folder> --endpoint ${scheme}://<host>; for Azure az://<container>/<folder>; for GCS gs://<bucket>/<folder>.`,
    );
  }
  const suggested = ALIASES[lower] ?? ((SUPPORTED as readonly string[]).includes(lower) ? lower : closest(lower, SUPPORTED, 2));
  const fix = suggested ? ` Did you mean ${suggested}://${suggested === 'file' ? '/' : ''}${rest}?` : '';
  throw new FlowsyncError(
    'USAGE',
    `Unsupported remote ${remote}: it looks like a URL, but flowsync knows only s3://, az://, gs:// and file:///.${fix} ` +
      `(A local folder whose name really starts this way can be written ${local}.)`,
  );
}

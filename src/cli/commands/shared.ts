import type { RemoteOptions } from '../../backends/open.js';
import type { PullResult } from '../../sync/pull.js';
import type { PushResult } from '../../sync/push.js';
import type { CommonOptions } from '../../sync/types.js';
import type { Values } from '../command.js';
import { formatBytes, formatDuration, parsePositiveInt } from '../format.js';
import type { Output } from '../output.js';

export function transferOptions(values: Values, output: Output, signal: AbortSignal, remoteOptions: RemoteOptions): CommonOptions {
  return {
    signal,
    log: output.log,
    onProgress: output.onProgress,
    remoteOptions,
    ...(typeof values.concurrency === 'string' ? { concurrency: parsePositiveInt(values.concurrency, '--concurrency') } : {}),
  };
}

const MAX_LISTED = 50;

export function syncSummaryText(r: PushResult | PullResult, what: string): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would ' : '';
  const changes = 'changes' in r ? r.changes : undefined;
  if (changes) {
    const written = 'upload' in changes ? changes.upload : changes.download;
    const sign = r.command === 'pull' ? '<' : '>';
    for (const p of written.slice(0, MAX_LISTED)) lines.push(`${sign} ${p}`);
    if (written.length > MAX_LISTED) lines.push(`  ... and ${written.length - MAX_LISTED} more`);
    for (const p of changes.delete.slice(0, MAX_LISTED)) lines.push(`- ${p}`);
    if (changes.delete.length > MAX_LISTED) lines.push(`  ... and ${changes.delete.length - MAX_LISTED} more to delete`);
    const update = 'update' in changes ? changes.update : [];
    for (const p of update.slice(0, MAX_LISTED)) lines.push(`~ ${p}`);
    if (update.length > MAX_LISTED) lines.push(`  ... and ${update.length - MAX_LISTED} more mode or link changes`);
  }
  const moved = r.command === 'pull' ? `${verb}download ${r.downloaded}` : `${verb}upload ${r.uploaded}`;
  const head = r.dryRun ? `${r.command} (dry run) ${what}` : `${r.command} ${what}`;
  lines.push(head);
  const updated = 'updated' in r && r.updated > 0 ? `, ${verb}update ${r.updated} (mode or link only)` : '';
  lines.push(`  ${moved} (${formatBytes(r.bytes)}), ${verb}delete ${r.deleted}${updated}, unchanged ${r.unchanged}, in ${formatDuration(r.durationMs)}`);
  if (r.command === 'pull' && r.fromCache) lines.push(`  from the content cache ${r.fromCache} (${formatBytes(r.cacheBytes ?? 0)})`);
  if (r.manifest) lines.push(`  manifest ${r.manifest.slice(0, 16)}`);
  return lines.join('\n');
}

/** Whether a push would change the remote at all (status --exit-code): bytes to send, objects to delete, or a mode/link to record. */
export function wouldChange(r: PushResult): boolean {
  return r.uploaded + r.deleted + r.updated > 0;
}

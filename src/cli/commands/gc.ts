import { FlowsyncError } from '../../errors.js';
import { DEFAULT_GRACE_MS, DEFAULT_KEEP, gc } from '../../sync/gc.js';
import type { Command } from '../command.js';
import { formatBytes, formatDuration } from '../format.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "2h", "7d", "0" → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new FlowsyncError('USAGE', `${flag} expects a duration such as 30m, 2h or 7d (or 0); got ${JSON.stringify(text)}.`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
}

function parseKeep(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new FlowsyncError('USAGE', `--keep expects a whole number of versions (0 or more); got ${JSON.stringify(text)}.`);
  return n;
}

export const gcCommand: Command = {
  name: 'gc',
  summary: 'delete old versions of a packed remote and the packs/blobs only they used',
  usage: 'flowsync gc <remote> [--keep N] [--grace DUR] [--dry-run] [options]',
  args: ['remote'],
  options: { keep: { type: 'string' }, grace: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  help: `Options:
  --keep N            versions kept besides the current one, newest first (default ${DEFAULT_KEEP})
  --grace DUR         never delete anything younger than this (default ${DEFAULT_GRACE_MS / 3_600_000}h): a push in
                      flight has uploaded packs no version lists yet, and a version it is about to make current
  --dry-run           show what would be deleted, delete nothing

gc keeps the current version, the newest N others and every version younger than the grace
period; it forgets the rest, then deletes each pack and blob that no kept version uses and that
is older than the grace period. A version also uses what it retains: the contents that left the
tree in its last 10 pushes, so that restoring them uploads nothing (--keep 0 keeps those too).
Packs are never rewritten: a pack stays while any kept version uses one of its files.

Examples:
  flowsync gc s3://my-bucket/etl --dry-run
  flowsync gc s3://my-bucket/etl --keep 5 --grace 2h`,
  async run({ positionals: [remote], values, output, signal, remoteOptions }) {
    const r = await gc({
      remote: remote!,
      signal,
      remoteOptions,
      onProgress: output.onProgress,
      dryRun: Boolean(values['dry-run']),
      ...(typeof values.keep === 'string' ? { keep: parseKeep(values.keep) } : {}),
      ...(typeof values.grace === 'string' ? { graceMs: parseDuration(values.grace, '--grace') } : {}),
    });
    const verb = r.dryRun ? 'would delete' : 'deleted';
    const lines = r.deletedVersions.map((id) => `- version ${id.slice(0, 16)}`);
    lines.push(`gc ${remote}${r.dryRun ? ' (dry run)' : ''}: kept ${r.keptVersions.length} version(s), ${verb} ${r.deletedVersions.length} version(s) and ${r.deletedObjects} pack/blob object(s) (${formatBytes(r.deletedBytes)}) in ${formatDuration(r.durationMs)}`);
    if (r.youngObjects > 0) lines.push(`  ${r.youngObjects} unused object(s) younger than the grace period were left for a later gc`);
    output.result(r, lines.join('\n'));
    return 0;
  },
};

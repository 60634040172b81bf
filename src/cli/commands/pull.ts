import { pull } from '../../sync/pull.js';
import type { Command } from '../command.js';
import { parseDuration } from '../format.js';
import { syncSummaryText, transferOptions } from './shared.js';

export const pullCommand: Command = {
  name: 'pull',
  summary: 'mirror a remote into a folder: verified, atomic, removing only what flowsync placed',
  usage: 'flowsync pull <remote> <dir> [options]',
  args: ['remote', 'dir'],
  options: {
    'dry-run': { type: 'boolean' },
    'no-delete': { type: 'boolean' },
    force: { type: 'boolean' },
    concurrency: { type: 'string' },
    wait: { type: 'string' },
    version: { type: 'string' },
  },
  help: `Options:
  --dry-run           show what would change, write nothing
  --no-delete         keep files an earlier pull placed that the remote no longer lists
  --force             overwrite (or delete) local files flowsync did not place
  --concurrency N     transfers in flight (default: the backend's)
  --wait DUR          how long to wait for a push in progress (default 2m; 0: do not wait)
  --version ID        packed: pull this version (an id from flowsync log, or its first 8+ digits)

Objects that disagree with the manifest while a push holds the remote's lease mean that push
is replacing them: the pull waits for it (up to --wait), then pulls the new version whole.
Without a live lease the remote is damaged: the pull fails and names push --repair.

A local file that flowsync did not place is never overwritten without --force: the pull stops
before writing anything and lists the conflicts.

Examples:
  flowsync pull s3://my-bucket/etl /srv/flows
  flowsync pull az://code/etl . --json`,
  async run({ positionals: [remote, dir], values, output, signal, remoteOptions }) {
    const result = await pull({
      remote: remote!,
      dir: dir!,
      ...transferOptions(values, output, signal, remoteOptions),
      dryRun: Boolean(values['dry-run']),
      delete: !values['no-delete'],
      force: Boolean(values.force),
      ...(typeof values.wait === 'string' ? { waitMs: parseDuration(values.wait, '--wait') } : {}),
      ...(typeof values.version === 'string' ? { version: values.version } : {}),
    });
    output.result(result, syncSummaryText(result, `${remote} -> ${dir}`));
    return 0;
  },
};

import { FlowsyncError } from '../../errors.js';
import { pull } from '../../sync/pull.js';
import type { Command } from '../command.js';
import { parseDuration, parsePositiveInt, parseSize } from '../format.js';
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
    switch: { type: 'boolean' },
    keep: { type: 'string' },
    'no-cache': { type: 'boolean' },
    'cache-size': { type: 'string' },
    link: { type: 'boolean' },
    wait: { type: 'string' },
    version: { type: 'string' },
  },
  help: `Options:
  --dry-run           show what would change, write nothing
  --no-delete         keep files an earlier pull placed that the remote no longer lists
  --force             overwrite (or delete) local files flowsync did not place
  --concurrency N     transfers in flight (default: the backend's)
  --switch            pull the version complete into <dir>.versions/<name>/, then swap <dir>
                      (a symlink) to it in one rename; a run on the old version keeps its files
  --keep N            with --switch: version folders kept, the current one included (default 3)
  --no-cache          bypass the machine's content cache (download every file)
  --cache-size SIZE   bound of the content cache, e.g. 2GiB (default 10GiB; least recently used goes first)
  --link              hard-link files from the content cache instead of copying them (they become
                      read-only: a flow editing one in place would otherwise change the cache)
  --wait DUR          how long to wait for a push in progress (default 2m; 0: do not wait)
  --version ID        packed: pull this version (an id from flowsync log, or its first 8+ digits)

Objects that disagree with the manifest while a push holds the remote's lease mean that push
is replacing them: the pull waits for it (up to --wait), then pulls the new version whole.
Without a live lease the remote is damaged: the pull fails and names push --repair.

A local file that flowsync did not place is never overwritten without --force: the pull stops
before writing anything and lists the conflicts. A second pull into the same folder waits for
the first one (up to 10 minutes); a lock left by a process that died does not block.

Examples:
  flowsync pull s3://my-bucket/etl /srv/flows
  flowsync pull s3://my-bucket/etl /srv/flows --switch --keep 5
  flowsync pull az://code/etl . --json`,
  async run({ positionals: [remote, dir], values, output, signal, remoteOptions }) {
    if (values.keep !== undefined && !values.switch) throw new FlowsyncError('USAGE', '--keep applies only with --switch (it counts version folders).');
    if (values.link && values['no-cache']) throw new FlowsyncError('USAGE', '--link hard-links files from the content cache, which --no-cache turns off: give one of them.');
    const result = await pull({
      remote: remote!,
      dir: dir!,
      ...transferOptions(values, output, signal, remoteOptions),
      dryRun: Boolean(values['dry-run']),
      delete: !values['no-delete'],
      force: Boolean(values.force),
      switch: Boolean(values.switch),
      ...(typeof values.keep === 'string' ? { keep: parsePositiveInt(values.keep, '--keep') } : {}),
      ...(values['no-cache'] ? { cacheDir: false as const } : {}),
      ...(typeof values['cache-size'] === 'string' ? { cacheSize: parseSize(values['cache-size'], '--cache-size') } : {}),
      link: Boolean(values.link),
      ...(typeof values.wait === 'string' ? { waitMs: parseDuration(values.wait, '--wait') } : {}),
      ...(typeof values.version === 'string' ? { version: values.version } : {}),
    });
    const where = values.switch && result.directory ? `\n  version folder ${result.directory}` : '';
    output.result(result, syncSummaryText(result, `${remote} -> ${dir}`) + where);
    return 0;
  },
};

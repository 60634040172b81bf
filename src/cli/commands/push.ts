import { openRemote } from '../../backends/open.js';
import { FlowsyncError } from '../../errors.js';
import { push } from '../../sync/push.js';
import type { Command } from '../command.js';
import { parsePositiveInt, parseSize } from '../format.js';
import { checkPartSize } from '../part-size.js';
import { syncSummaryText, transferOptions } from './shared.js';

function parseLayout(v: unknown): 'mirror' | 'packed' {
  if (v === 'mirror' || v === 'packed') return v;
  throw new FlowsyncError('USAGE', `--layout expects mirror or packed; got ${JSON.stringify(v)}.`);
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'upload a folder to a remote: only what changed, then remove what was deleted',
  usage: 'flowsync push <dir> <remote> [options]',
  args: ['dir', 'remote'],
  options: {
    'ignore-file': { type: 'string' },
    'dry-run': { type: 'boolean' },
    'no-delete': { type: 'boolean' },
    'follow-links': { type: 'boolean' },
    'no-cache': { type: 'boolean' },
    concurrency: { type: 'string' },
    'part-size': { type: 'string' },
    repair: { type: 'boolean' },
    'break-lease': { type: 'boolean' },
    layout: { type: 'string' },
    message: { type: 'string', short: 'm' },
  },
  help: `Options:
  --ignore-file F     ignore rules (default <dir>/.prefectignore; gitignore syntax)
  --dry-run           show what would change, write nothing
  --no-delete         keep remote files that are gone locally
  --follow-links      upload what links point to instead of recording the links
  --no-cache          hash every file (skip the stat cache)
  --concurrency N     transfers in flight (default: the backend's)
  --part-size SIZE    multipart part size, e.g. 16MiB (at least the store's minimum: 5MiB on S3, 1MiB elsewhere)
  --repair            list the remote and upload again every object that disagrees with the
                      manifest (after an interrupted push, or objects changed by another tool)
  --break-lease       take over the write lease even if the push holding it may still run
  --layout L          mirror (default: one object per file, where Prefect's own steps read them) or
                      packed (versioned packs; flowsync log/rollback/gc). Sticky per remote; the
                      other value converts the remote and says so
  -m, --message M     packed: a message kept with the version (flowsync log shows it)

One push at a time writes to a remote: a push holds a lease (.flowsync/lease.json) while it
runs; a second push fails at once naming the holder. A lease left by a push that died on this
machine, or one that expired, is taken over (with a warning) and the remote is repaired.

Examples:
  flowsync push ./flows s3://my-bucket/etl
  flowsync push . az://code/etl --dry-run
  flowsync push . gs://my-bucket/etl --json
  flowsync push . s3://my-bucket/etl --layout packed -m "release 42"`,
  async run({ positionals: [dir, remoteArg], values, output, signal, remoteOptions }) {
    const partSize = typeof values['part-size'] === 'string' ? parseSize(values['part-size'], '--part-size') : undefined;
    // With --part-size the store is opened here, so a size it cannot take is refused before anything moves.
    const remote = partSize === undefined ? remoteArg! : await openRemote(remoteArg!, remoteOptions);
    try {
      if (partSize !== undefined && typeof remote !== 'string') checkPartSize(partSize, String(values['part-size']), remote.backend);
      const result = await push({
        dir: dir!,
        remote,
        ...transferOptions(values, output, signal, remoteOptions),
        ...(typeof values['ignore-file'] === 'string' ? { ignoreFile: values['ignore-file'] } : {}),
        dryRun: Boolean(values['dry-run']),
        delete: !values['no-delete'],
        followLinks: Boolean(values['follow-links']),
        ...(values['no-cache'] ? { cacheDir: false as const } : {}),
        ...(typeof values.concurrency === 'string' ? { concurrency: parsePositiveInt(values.concurrency, '--concurrency') } : {}),
        ...(partSize !== undefined ? { partSize } : {}),
        repair: Boolean(values.repair),
        breakLease: Boolean(values['break-lease']),
        ...(values.layout !== undefined ? { layout: parseLayout(values.layout) } : {}),
        ...(typeof values.message === 'string' ? { message: values.message } : {}),
      });
      const repaired = result.repaired ? `\n  repaired ${result.repaired} object(s) that disagreed with the manifest` : '';
      output.result(result, syncSummaryText(result, `${dir} -> ${remoteArg}`) + repaired);
      return 0;
    } finally {
      if (typeof remote !== 'string') await remote.backend.close?.().catch(() => {});
    }
  },
};

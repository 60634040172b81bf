import { status } from '../../sync/status.js';
import type { Command } from '../command.js';
import { syncSummaryText, transferOptions } from './shared.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show what push would do (writes nothing)',
  usage: 'flowsync status <dir> <remote> [options]',
  args: ['dir', 'remote'],
  options: { 'ignore-file': { type: 'string' }, 'no-delete': { type: 'boolean' }, 'follow-links': { type: 'boolean' } },
  help: `Options:
  --ignore-file F     ignore rules (default <dir>/.prefectignore)
  --no-delete         as push --no-delete
  --follow-links      as push --follow-links

Lines start with ">" (would upload) or "-" (would delete). Exit code 0 either way.

Example:
  flowsync status ./flows s3://my-bucket/etl`,
  async run({ positionals: [dir, remote], values, output, signal, remoteOptions }) {
    const result = await status({
      dir: dir!,
      remote: remote!,
      ...transferOptions(values, output, signal, remoteOptions),
      ...(typeof values['ignore-file'] === 'string' ? { ignoreFile: values['ignore-file'] } : {}),
      delete: !values['no-delete'],
      followLinks: Boolean(values['follow-links']),
    });
    output.result(result, syncSummaryText(result, `${dir} -> ${remote}`));
    return 0;
  },
};

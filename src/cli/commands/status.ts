import { status } from '../../sync/status.js';
import type { Command } from '../command.js';
import { syncSummaryText, transferOptions, wouldChange } from './shared.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show what push would do (writes nothing)',
  usage: 'flowsync status <dir> <remote> [options]',
  args: ['dir', 'remote'],
  options: { 'ignore-file': { type: 'string' }, 'no-delete': { type: 'boolean' }, 'follow-links': { type: 'boolean' }, 'exit-code': { type: 'boolean' } },
  help: `Options:
  --ignore-file F     ignore rules (default <dir>/.prefectignore)
  --no-delete         as push --no-delete
  --follow-links      as push --follow-links
  --exit-code         exit 1 when a push would change anything, 0 when in sync (as git diff --exit-code)

Lines start with ">" (would upload), "-" (would delete) or "~" (mode or link changes only).
Exit code 0 either way, unless --exit-code.

Examples:
  flowsync status ./flows s3://my-bucket/etl
  flowsync status ./flows s3://my-bucket/etl --exit-code --quiet || echo "not deployed yet"`,
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
    return values['exit-code'] && wouldChange(result) ? 1 : 0;
  },
};

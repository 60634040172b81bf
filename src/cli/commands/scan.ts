import { scanTree } from '../../sync/scan.js';
import type { Command } from '../command.js';

export const scanCommand: Command = {
  name: 'scan',
  summary: 'list the files push would take (--json: the manifest)',
  usage: 'flowsync scan <dir> [options]',
  args: ['dir'],
  options: { 'ignore-file': { type: 'string' }, 'follow-links': { type: 'boolean' }, 'no-cache': { type: 'boolean' } },
  help: `Options:
  --ignore-file F     ignore rules (default <dir>/.prefectignore)
  --follow-links      take what links point to instead of the links
  --no-cache          hash every file (skip the stat cache)

Example:
  flowsync scan . | head`,
  async run({ positionals: [dir], values, output, signal }) {
    const result = await scanTree({
      dir: dir!,
      signal,
      log: output.log,
      onProgress: output.onProgress,
      ...(typeof values['ignore-file'] === 'string' ? { ignoreFile: values['ignore-file'] } : {}),
      followLinks: Boolean(values['follow-links']),
      ...(values['no-cache'] ? { cacheDir: false as const } : {}),
    });
    // Paths are printed as JSON strings when they hold characters a line cannot carry.
    const lines = result.manifest.files.map((e) => (/[\n\r"\\]/.test(e.path) ? JSON.stringify(e.path) : e.path));
    output.result(result.manifest, lines.join('\n'));
    return 0;
  },
};

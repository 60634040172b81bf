import { verify } from '../../sync/verify.js';
import type { Command } from '../command.js';
import { formatDuration, parsePositiveInt } from '../format.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check remote objects (and a local folder) against the manifest',
  usage: 'flowsync verify <remote> [--dir D] [options]',
  args: ['remote'],
  options: { dir: { type: 'string' }, deep: { type: 'boolean' }, concurrency: { type: 'string' } },
  help: `Options:
  --dir D             also compare folder D (e.g. a pulled copy) with the manifest
  --deep              download and hash every object (default: listing sizes + stored sha256)
  --concurrency N     reads in flight

Exit code 0 when everything matches, 1 otherwise.

Example:
  flowsync verify s3://my-bucket/etl --dir /srv/flows`,
  async run({ positionals: [remote], values, output, signal, remoteOptions }) {
    const report = await verify({
      remote: remote!,
      signal,
      remoteOptions,
      onProgress: output.onProgress,
      deep: Boolean(values.deep),
      ...(typeof values.dir === 'string' ? { dir: values.dir } : {}),
      ...(typeof values.concurrency === 'string' ? { concurrency: parsePositiveInt(values.concurrency, '--concurrency') } : {}),
    });
    const lines = report.problems.map((p) => `${p.where} ${p.problem.padEnd(7)} ${p.path}: ${p.detail}`);
    lines.push(`verify ${remote}: ${report.ok ? 'OK' : `${report.problems.length} problem(s)`}, ${report.checked} entries checked in ${formatDuration(report.durationMs)}`);
    output.result({ command: 'verify', ...report }, lines.join('\n'));
    return report.ok ? 0 : 1;
  },
};

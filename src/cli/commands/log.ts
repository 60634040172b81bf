import { log } from '../../sync/versions.js';
import type { Command } from '../command.js';
import { formatBytes } from '../format.js';

export const logCommand: Command = {
  name: 'log',
  summary: 'list the versions of a packed remote, newest first',
  usage: 'flowsync log <remote> [options]',
  args: ['remote'],
  options: {},
  help: `Each line: the version id (give it, or its first 8+ digits, to pull --version or rollback),
when it was pushed, files and bytes, the git commit it came from ("+dirty" when the work tree
had changes), and its message. "*" marks the current version.

--json gives {versions: [{id, createdAt, files, bytes, message, current, provenance}]}.

Examples:
  flowsync log s3://my-bucket/etl
  flowsync log s3://my-bucket/etl --json`,
  async run({ positionals: [remote], output, signal, remoteOptions }) {
    const r = await log({ remote: remote!, signal, remoteOptions });
    const lines = r.versions.map((v) => {
      const git = v.provenance.git ? ` ${v.provenance.git.commit.slice(0, 12)}${v.provenance.git.dirty ? '+dirty' : ''}` : '';
      return `${v.current ? '*' : ' '} ${v.id.slice(0, 16)}  ${v.createdAt}  ${v.files} files  ${formatBytes(v.bytes)}${git}${v.message ? `  ${v.message.split('\n')[0]}` : ''}`;
    });
    if (r.versions.length === 0) lines.push(`${remote} has no versions (push with --layout packed first).`);
    output.result(r, lines.join('\n'));
    return 0;
  },
};

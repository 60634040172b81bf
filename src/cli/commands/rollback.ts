import { rollback } from '../../sync/versions.js';
import type { Command } from '../command.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'make an older version of a packed remote current',
  usage: 'flowsync rollback <remote> <id> [options]',
  args: ['remote', 'id'],
  options: {},
  help: `<id> is a version id from flowsync log (or its first 8+ digits). The version is checked
(its bytes hash to its id, every pack and blob it names still exists) and then written as the
current version, on the condition that no push changed it meanwhile (like a push). The next push
builds on the version rolled back to.

Example:
  flowsync rollback s3://my-bucket/etl 3f2a9c1e`,
  async run({ positionals: [remote, id], output, signal, remoteOptions }) {
    const r = await rollback({ remote: remote!, version: id!, signal, remoteOptions });
    const text = r.previous === r.manifest ? `${remote}: ${r.manifest.slice(0, 16)} is already the current version` : `${remote}: current version is now ${r.manifest.slice(0, 16)} (was ${r.previous?.slice(0, 16) ?? 'none'})`;
    output.result(r, text);
    return 0;
  },
};

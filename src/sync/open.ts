import { openRemote, type Remote, type RemoteOptions } from '../backends/open.js';

/** Accept a remote address or an already opened remote. */
export async function resolveRemote(remote: string | Remote, options?: RemoteOptions): Promise<Remote> {
  return typeof remote === 'string' ? openRemote(remote, options) : remote;
}

/** Close a remote we opened ourselves (SDK clients hold sockets). */
export async function releaseRemote(remote: Remote, given: string | Remote): Promise<void> {
  if (typeof given === 'string') await remote.backend.close?.().catch(() => {});
}

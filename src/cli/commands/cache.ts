import { listEntries, trimCache } from '../../cache/cache-usage.js';
import { DEFAULT_CACHE_BYTES, defaultContentCacheDir } from '../../cache/content-cache.js';
import type { Command } from '../command.js';
import { formatBytes, parseSize } from '../format.js';

export const cacheCommand: Command = {
  name: 'cache',
  summary: "show the machine's content cache (size, entries), or prune it",
  usage: 'flowsync cache [--prune] [--cache-size SIZE]',
  args: [],
  options: {
    prune: { type: 'boolean' },
    'cache-size': { type: 'string' },
  },
  help: `The content cache holds verified file contents by sha256, shared by every pull of this user
on this machine; it lives in <FLOWSYNC_CACHE_DIR or the user cache folder>/content.

Options:
  --prune             remove least recently used entries until the cache fits --cache-size
                      (and temporary files of killed pulls)
  --cache-size SIZE   the bound to show or prune to, e.g. 2GiB, 0 to empty it (default 10GiB)

Examples:
  flowsync cache
  flowsync cache --prune --cache-size 1GiB
  flowsync cache --json`,
  async run({ values, output }) {
    const root = defaultContentCacheDir();
    const maxBytes = typeof values['cache-size'] === 'string' ? parseSize(values['cache-size'], '--cache-size') : DEFAULT_CACHE_BYTES;
    if (values.prune) {
      const r = await trimCache(root, maxBytes, maxBytes);
      const summary = { command: 'cache', root, entries: r.entries, bytes: r.bytes, maxBytes, removed: r.removed, removedBytes: r.removedBytes, tempRemoved: r.tempRemoved };
      output.result(
        summary,
        `cache ${root}\n  removed ${r.removed} entries (${formatBytes(r.removedBytes)})${r.tempRemoved ? ` and ${r.tempRemoved} temporary files` : ''}; ${r.entries} entries, ${formatBytes(r.bytes)} left (bound ${formatBytes(maxBytes)})`,
      );
      return 0;
    }
    const entries = listEntries(root);
    const bytes = entries.reduce((n, e) => n + e.size, 0);
    let oldest = Infinity;
    let newest = -Infinity;
    for (const e of entries) {
      oldest = Math.min(oldest, e.mtimeMs);
      newest = Math.max(newest, e.mtimeMs);
    }
    const lastUsed = entries.length ? { oldest: new Date(oldest).toISOString(), newest: new Date(newest).toISOString() } : null;
    const summary = { command: 'cache', root, entries: entries.length, bytes, maxBytes, ...(lastUsed ? { lastUsed } : {}) };
    output.result(
      summary,
      `cache ${root}\n  ${entries.length} entries, ${formatBytes(bytes)} of ${formatBytes(maxBytes)}` + (lastUsed ? `\n  last used ${lastUsed.oldest} .. ${lastUsed.newest}` : ''),
    );
    return 0;
  },
};

import os from 'node:os';
import path from 'node:path';

/** The user's cache folder for flowsync (FLOWSYNC_CACHE_DIR, else the platform's user cache dir). */
export function defaultCacheDir(): string {
  if (process.env.FLOWSYNC_CACHE_DIR) return process.env.FLOWSYNC_CACHE_DIR;
  const home = os.homedir();
  if (process.platform === 'win32') return path.join(process.env.LOCALAPPDATA ?? path.join(home, 'AppData', 'Local'), 'flowsync', 'Cache');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'flowsync');
  return path.join(process.env.XDG_CACHE_HOME || path.join(home, '.cache'), 'flowsync');
}

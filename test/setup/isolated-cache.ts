/**
 * Every test file gets a cache folder of its own (stat cache, remote memo, the worker's content
 * cache), so no test reads what an earlier run or another test file left in the user's cache:
 * a pull served from a warm content cache would never reach the store a test is exercising.
 * A test (or a CLI run) that names its own FLOWSYNC_CACHE_DIR / cacheDir still uses that.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-test-cache-'));
process.env.FLOWSYNC_CACHE_DIR = dir;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

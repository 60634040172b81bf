import { push, type PushResult } from './push.js';
import type { PushOptions } from './types.js';

/** What a push would do, without writing anything. */
export function status(o: PushOptions): Promise<PushResult> {
  return push({ ...o, dryRun: true, command: 'status' });
}

/**
 * The retry policy lives with the one retry decorator (backends/retrying.ts), applied where a
 * remote is opened. Re-exported here for the few callers outside the backend boundary that
 * still wrap calls by hand (sync/); those go once every backend they reach is decorated.
 */
export { isRetryable, sleep, withRetry, type RetryOptions } from '../backends/retrying.js';

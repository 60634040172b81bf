/**
 * flowsync as a library: the same operations as the CLI.
 *
 *   import { push, pull } from 'flowsync';
 *   await push({ dir: './flows', remote: 's3://bucket/etl' });
 *   await pull({ remote: 's3://bucket/etl', dir: '/srv/flows' });
 */
export { push, type PushResult } from './sync/push.js';
export { pull, type PullResult } from './sync/pull.js';
export { status } from './sync/status.js';
export { verify } from './sync/verify.js';
export { scanTree as scan } from './sync/scan.js';
export { planPush, type PushPlan } from './plan/push-plan.js';
export { planPull, type PullPlan, type PullPlanInput, type LocalState, type PullTarget } from './plan/pull-plan.js';
export { openRemote, parseRemote, type Remote, type RemoteOptions, type RemoteAddress } from './backends/open.js';
// What RemoteOptions.s3 / .azure / .gcs take, typed per cloud (a misspelt key fails to compile).
export type { S3Options } from './backends/s3/options.js';
export type { AzureOptions } from './backends/azure/options.js';
export type { GcsOptions } from './backends/gcs/options.js';
export type { RetryOptions } from './backends/retrying.js';
export { createLocalBackend, type LocalBackendOptions } from './backends/local.js';
export { createMemoryBackend } from './backends/memory.js';
export type * from './backends/types.js';
export { parseManifest, serializeManifest, createManifest, manifestId } from './manifest/codec.js';
export type * from './manifest/types.js';
export { FlowsyncError, type ErrorCode } from './errors.js';
export { holdVersion, type VersionHold } from './cache/version-holds.js';
export { ContentCache, type CacheStats, type ContentCacheOptions } from './cache/content-cache.js';
export type * from './sync/types.js';
export { runSteps, BUILTIN_STEPS, type RunStepsOptions, type RunStepsResult, type StepSummary, type StepEvent } from './steps/index.js';
export { imagePush, imagePull, type ImagePushOptions, type ImagePushSummary, type ImagePullOptions, type ImagePullSummary } from './image/index.js';

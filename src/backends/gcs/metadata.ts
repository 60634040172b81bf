/** GCS object resources as ObjectInfo, user metadata, and etag conditions as generations. */
import type { FileMetadata } from '@google-cloud/storage';
import { FlowsyncError } from '../../errors.js';
import { SHA256_METADATA_KEY, type ObjectInfo, type WriteInfo } from '../types.js';

export function infoOf(key: string, m: FileMetadata): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.metadata ?? {})) if (v !== null && v !== undefined) metadata[k.toLowerCase()] = String(v);
  const sha256 = metadata[SHA256_METADATA_KEY];
  return {
    key,
    size: Number(m.size ?? 0),
    ...(m.generation !== undefined ? { etag: String(m.generation) } : {}),
    ...(m.updated ? { lastModified: new Date(m.updated) } : {}),
    metadata,
    ...(sha256 ? { sha256 } : {}),
  };
}

export function userMetadata(w: Pick<WriteInfo, 'metadata' | 'sha256'>): Record<string, string> {
  return { ...w.metadata, ...(w.sha256 ? { [SHA256_METADATA_KEY]: w.sha256 } : {}) };
}

/** ifNoneMatch '*' → generation 0 (must not exist); ifMatch → that generation. */
export function generationCondition(key: string, w: Pick<WriteInfo, 'ifMatch' | 'ifNoneMatch'>): { ifGenerationMatch: number } | undefined {
  if (w.ifNoneMatch === '*') return { ifGenerationMatch: 0 };
  if (w.ifMatch === undefined) return undefined;
  if (!/^\d+$/.test(w.ifMatch)) {
    throw new FlowsyncError('PRECONDITION_FAILED', `Cannot write gs://…/${key}: etag ${JSON.stringify(w.ifMatch)} is not a GCS generation, so it cannot match.`);
  }
  return { ifGenerationMatch: Number(w.ifMatch) };
}

/**
 * The transport digest a backend declares (features.transportDigest), computed by the engine
 * in the same pass that reads the bytes: backends only pass it on (restic's Hasher()).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Backend, TransportDigest } from '../backends/types.js';

export function transportHasher(kind: TransportDigest): Hash | null {
  return kind === null ? null : createHash(kind);
}

/** The digest of one whole body; `sha256Hex` is reused when the kind is sha256 (no second hash). */
export function digestOf(backend: Backend, data: Uint8Array, sha256Hex?: string): Uint8Array | undefined {
  const kind = backend.features.transportDigest;
  if (kind === null) return undefined;
  if (kind === 'sha256' && sha256Hex) return Buffer.from(sha256Hex, 'hex');
  return createHash(kind).update(data).digest();
}

/** Whether the multipart digest goes with each part ('part') or with complete() ('object'). */
export function digestScope(backend: Backend): 'part' | 'object' {
  return backend.limits.multipart?.digestScope ?? 'part';
}

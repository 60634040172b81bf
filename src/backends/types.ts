/**
 * The backend interface (DESIGN §6). A backend only moves bytes: the engine owns hashing (the
 * content sha256 and the transport digest), retries (one decorator, retrying.ts), concurrency,
 * chunking, delete batching, abort and progress. Keys are full object keys inside the bucket/container/root,
 * already normalised by `keys.ts`; a backend never sees a relative path.
 */
import type { Readable } from 'node:stream';

export interface Op {
  signal?: AbortSignal;
  /** Told about each retry the retry decorator makes for this call (the engine logs them). */
  onRetry?: RetryListener;
}

export type RetryListener = (err: unknown, attempt: number, delayMs: number) => void;

export interface ObjectInfo {
  key: string;
  size: number;
  /** Opaque version tag used for conditional writes (ETag, generation, ...). */
  etag?: string;
  lastModified?: Date;
  /** Content sha256 (hex) when the backend stores it in object metadata; absent if unknown. */
  sha256?: string;
  /** User metadata (lower-case keys), when the call returns it (stat always, list maybe). */
  metadata?: Record<string, string>;
}

/**
 * The digest a service checks on arrival for free (restic's `Hasher()`): the backend declares
 * it, the engine computes it while it reads the bytes, the backend passes it on unchanged.
 */
export type TransportDigest = 'md5' | 'sha256' | null;

export interface WriteInfo {
  size: number;
  /** Hex sha256 of the whole object; stored as metadata `sha256`. Computed by the engine. */
  sha256?: string;
  /**
   * The body's digest of the kind `features.transportDigest` names (raw bytes), computed by the
   * engine; the service refuses a body that does not match. Absent: the body goes unchecked.
   */
  digest?: Uint8Array;
  contentType?: string;
  /** Extra user metadata. Keys: lower-case ASCII letters, digits and '-'. */
  metadata?: Record<string, string>;
  /** Write only if the current object's etag equals this. Needs features.conditionalWrite. */
  ifMatch?: string;
  /** '*': write only if no object exists at the key. Needs features.conditionalWrite. */
  ifNoneMatch?: '*';
}

/** What openMultipart needs: the object's WriteInfo (size may be unknown) and the engine's part size. */
export interface MultipartInfo extends Omit<WriteInfo, 'size' | 'digest'> {
  /** Total size when known up front (a file); a stream of unknown length gives it at complete(). */
  size?: number;
  /** Every part but the last has exactly this many bytes. */
  partSize: number;
}

export interface PartInfo {
  /** The part's transport digest (when `limits.multipart.digestScope` is 'part'). */
  digest?: Uint8Array;
}

export interface CompleteInfo {
  /** Total bytes written. */
  size: number;
  /** The whole object's transport digest (when `limits.multipart.digestScope` is 'object'). */
  digest?: Uint8Array;
}

export interface ReadOptions extends Op {
  /** Byte range [start, endExclusive). Needs features.rangeRead. */
  range?: [start: number, endExclusive: number];
}

export interface BackendFeatures {
  multipart: boolean;
  conditionalWrite: boolean;
  rangeRead: boolean;
  metadata: boolean;
  /** What the service can check for free; the engine computes it (null: nothing). */
  transportDigest: TransportDigest;
}

/** Limits of the service's multipart upload, used by the engine to pick the part size. */
export interface MultipartLimits {
  minPartSize: number;
  maxPartSize: number;
  maxParts: number;
  /** Parts must be written one at a time in increasing order (e.g. GCS resumable sessions). */
  sequential?: boolean;
  /** Every part but the last must be a multiple of this many bytes (GCS: 256 KiB). */
  partMultiple?: number;
  /**
   * Where the transport digest of a multipart upload goes: 'part' (default) = each writePart
   * carries its part's digest (S3 x-amz-content-sha256, Azure Content-MD5 per block);
   * 'object' = complete() carries the whole object's (GCS X-Goog-Hash on the final chunk).
   */
  digestScope?: 'part' | 'object';
}

export interface BackendLimits {
  /** Keys one delete() call takes at most; the engine batches and runs batches in parallel. */
  deleteBatch: number;
  multipart?: MultipartLimits;
}

/** Defaults the engine uses unless the user overrides them. */
export interface BackendTuning {
  /** Transfers in flight at once. */
  concurrency: number;
  /** Objects at least this big are uploaded in parts (when features.multipart). */
  multipartThreshold: number;
  /** Preferred part size; raised as needed so the file fits in maxParts. */
  partSize: number;
}

export interface MultipartWriter {
  /** Part numbers start at 1. Any order, concurrently, unless the limits say `sequential`. `data` is the caller's again once the call settles. */
  writePart(partNumber: number, data: Uint8Array, info?: PartInfo, o?: Op): Promise<void>;
  complete(info: CompleteInfo, o?: Op): Promise<ObjectInfo>;
  /** Discards the upload and the parts written so far. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface Backend {
  readonly name: string; // "s3" | "azure" | "gcs" | "local" | "memory"
  readonly features: BackendFeatures;
  readonly limits: BackendLimits;
  readonly tuning: BackendTuning;
  /** null when the object does not exist. */
  stat(key: string, o?: Op): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (pass a prefix ending in '/' for a folder); paginates inside. Order unspecified. */
  list(prefix: string, o?: Op): AsyncIterable<ObjectInfo>;
  /** Throws FlowsyncError NOT_FOUND when the object does not exist. A range past the end yields what there is. */
  read(key: string, o?: ReadOptions): Promise<Readable>;
  /**
   * Bytes only: the engine has hashed them (info.sha256, info.digest); the backend never re-hashes.
   * The body is the caller's again once the call settles (the engine recycles its buffers): keep
   * no reference to it.
   */
  write(key: string, body: Uint8Array, info: WriteInfo, o?: Op): Promise<ObjectInfo>;
  /** At most `limits.deleteBatch` keys. Idempotent: missing keys are not an error. */
  delete(keys: string[], o?: Op): Promise<void>;
  openMultipart?(key: string, info: MultipartInfo, o?: Op): Promise<MultipartWriter>;
  close?(): Promise<void>;
}

/** Metadata key under which every backend stores the content sha256. */
export const SHA256_METADATA_KEY = 'sha256';

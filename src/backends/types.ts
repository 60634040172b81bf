/**
 * The backend interface (DESIGN §6). A backend only moves bytes: the engine owns concurrency,
 * retries, abort and progress. Keys are full object keys inside the bucket/container/root,
 * already normalised by `keys.ts`; a backend never sees a relative path.
 */
import type { Readable } from 'node:stream';

export interface Op {
  signal?: AbortSignal;
}

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

export interface WriteInfo {
  size: number;
  /** Hex sha256 of the whole object; stored as metadata `sha256` and, where the API allows, checked by the server. */
  sha256?: string;
  contentType?: string;
  /** Extra user metadata. Keys: lower-case ASCII letters, digits and '-'. */
  metadata?: Record<string, string>;
  /** Write only if the current object's etag equals this. Needs features.conditionalWrite. */
  ifMatch?: string;
  /** '*': write only if no object exists at the key. Needs features.conditionalWrite. */
  ifNoneMatch?: '*';
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
  readonly partSize: number;
  readonly maxParts: number;
  /** Part numbers start at 1. Any order, concurrently, unless the limits say `sequential`. */
  writePart(partNumber: number, data: Uint8Array, o?: Op): Promise<void>;
  complete(o?: Op): Promise<ObjectInfo>;
  /** Discards the upload and the parts written so far. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface Backend {
  readonly name: string; // "s3" | "azure" | "gcs" | "local" | "memory"
  readonly features: BackendFeatures;
  readonly tuning: BackendTuning;
  readonly multipartLimits?: MultipartLimits;
  /** null when the object does not exist. */
  stat(key: string, o?: Op): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (pass a prefix ending in '/' for a folder); paginates inside. Order unspecified. */
  list(prefix: string, o?: Op): AsyncIterable<ObjectInfo>;
  /** Throws FlowsyncError NOT_FOUND when the object does not exist. */
  read(key: string, o?: ReadOptions): Promise<Readable>;
  write(key: string, body: Uint8Array | Readable, info: WriteInfo, o?: Op): Promise<ObjectInfo>;
  /** Idempotent: missing keys are not an error. Batched where the API allows. */
  delete(keys: string[], o?: Op): Promise<void>;
  openMultipart?(key: string, info: WriteInfo & { partSize: number }, o?: Op): Promise<MultipartWriter>;
  close?(): Promise<void>;
}

/** Metadata key under which every backend stores the content sha256. */
export const SHA256_METADATA_KEY = 'sha256';

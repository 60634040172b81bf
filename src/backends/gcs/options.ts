/** What `RemoteOptions.gcs` may carry (typed, so a misspelt key fails to compile). */
import type { Storage } from '@google-cloud/storage';

export interface GcsOptions {
  projectId?: string;
  /** e.g. http://127.0.0.1:4443 for an emulator; default: STORAGE_EMULATOR_HOST, else Google. */
  endpoint?: string;
  /** Service-account key JSON (the parsed file). */
  credentials?: Record<string, unknown>;
  keyFilename?: string;
  /** A ready-made client (its own retry/auth settings apply). */
  client?: Storage;
}


export interface GcsBackendOptions extends GcsOptions {
  bucket: string;
}

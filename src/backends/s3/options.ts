/** What `RemoteOptions.s3` may carry (typed, so a misspelt key fails to compile). */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

export interface S3Options {
  region?: string;
  /** Custom endpoint (S3-compatible store); default AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Path-style addressing; default true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default the SDK's standard chain (env, profiles, SSO, roles, ...). */
  credentials?: S3ClientConfig['credentials'];
  /** Shared-config profile to take credentials (and region) from. */
  profile?: string;
  /** A ready-made client; this backend then never destroys it. */
  client?: S3Client;
  tls?: { rejectUnauthorized?: boolean; caFile?: string };
  /** Sockets per agent (default 64), so 16-64 concurrent transfers are not queued. */
  maxSockets?: number;
}

export interface S3BackendOptions extends S3Options {
  bucket: string;
}

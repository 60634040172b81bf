/**
 * Start s3rver (a fake S3 server from npm) on 127.0.0.1 for tests, e2e runs and the benchmark.
 *
 * The server runs in a child process through its programmatic API with port 0, and prints the
 * port the OS gave it: no "find a free port, then bind it" race. The child reads a pipe from
 * this process and exits when it closes, so even a killed test run leaves no server behind.
 * Data lives in a temp folder removed on stop(). With `tls`, it serves https with a fresh
 * self-signed certificate (for tests of certificate trust).
 *
 * s3rver facts (DESIGN §8, checked here): it needs the OpenSSL legacy provider (its ListObjectsV2
 * continuation token is DES-encrypted; without the provider any listing longer than one page
 * answers 500 InternalError), it checks the access key id but not the signature, it ignores
 * conditional writes and checksums, writes PUT bodies in place (an interrupted PUT truncates the
 * old object), answers "Range: bytes=0-0" with the whole object, and has neither
 * AbortMultipartUpload (405) nor ListMultipartUploads (501).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { startChildServer } from './child-server.js';

/** s3rver's built-in account (not a secret). */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';
export const S3RVER_REGION = 'us-east-1';

export interface S3rverServer {
  /** e.g. http://127.0.0.1:41234 (path-style addressing); https:// with the `tls` option. */
  endpoint: string;
  /** With the `tls` option: the self-signed certificate to trust (PEM file). */
  caFile?: string;
  port: number;
  pid: number;
  /** The folder s3rver stores buckets in. */
  directory: string;
  /** AWS_* variables for tools and child processes (aws, rclone via its own vars, flowsync CLI). */
  env: Record<string, string>;
  /** Multipart uploads begun and neither completed nor aborted (read from s3rver's folder). */
  pendingUploads(bucket: string): string[];
  /** Create a bucket (no error if this server already has it). */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /** Buckets to create before returning. */
  buckets?: string[];
  /** How long to wait for the server to listen (default 30 s; a busy 2-core machine is slow). */
  startTimeoutMs?: number;
  /** Serve https with a fresh self-signed certificate for 127.0.0.1 (made with openssl). */
  tls?: boolean;
}

// Runs in the child (CommonJS, `node -e`): argv[1] = s3rver's main module, argv[2] = data folder,
// argv[3] and argv[4] = TLS key and certificate files (optional).
const CHILD_SCRIPT = `
const fs = require('fs');
const S3rver = require(process.argv[1]);
const tls = process.argv[4] ? { key: fs.readFileSync(process.argv[3]), cert: fs.readFileSync(process.argv[4]) } : {};
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2], ...tls });
server.run().then(
  (addr) => process.stdout.write('S3RVER_PORT=' + addr.port + '\\n'),
  (err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exit(1); },
);
// The parent holds the other end of stdin: when it goes away without stopping us, we remove
// the temp folder it made (the data folder's parent) and exit.
const orphaned = () => {
  try { fs.rmSync(require('path').dirname(process.argv[2]), { recursive: true, force: true }); } catch {}
  process.exit(0);
};
process.stdin.on('end', orphaned);
process.stdin.on('error', orphaned);
process.stdin.resume();
// No graceful close: keep-alive client sockets would hold it open, and the data folder goes anyway.
process.on('SIGTERM', () => process.exit(0));
`;

const PORT_LINE = /S3RVER_PORT=(\d+)/;

function s3rverMain(): string {
  return createRequire(import.meta.url).resolve('s3rver');
}

export function s3rverEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY,
    AWS_REGION: S3RVER_REGION,
    AWS_DEFAULT_REGION: S3RVER_REGION,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    // Flexible checksums frame streamed bodies in a way s3rver stores verbatim (corrupt).
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    // No instance-metadata lookups from SDKs and tools that fall through the credential chain.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3rverServer> {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'flowsync-s3rver-'));
  const directory = path.join(workspace, 'data');
  mkdirSync(directory);
  const tlsFiles = opts.tls ? makeCertificate(workspace) : undefined;
  const { port, pid, stop } = await startChildServer({
    name: 's3rver',
    args: ['-e', CHILD_SCRIPT, s3rverMain(), directory, ...(tlsFiles ? [tlsFiles.key, tlsFiles.cert] : [])],
    workspace,
    // Only the legacy provider: the parent's NODE_OPTIONS may carry test-runner loaders.
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    portLine: PORT_LINE,
    startTimeoutMs: opts.startTimeoutMs ?? 30_000,
    // The child watches its stdin: when this process dies without stopping it, the pipe closes.
    stdin: true,
    // A server nobody stopped must not keep this process alive: the exit hook kills it.
    unref: true,
  });

  const endpoint = `${tlsFiles ? 'https' : 'http'}://127.0.0.1:${port}`;
  const server: S3rverServer = {
    endpoint,
    ...(tlsFiles ? { caFile: tlsFiles.cert } : {}),
    port,
    pid,
    directory,
    env: { ...s3rverEnv(endpoint), ...(tlsFiles ? { AWS_CA_BUNDLE: tlsFiles.cert } : {}) },
    pendingUploads: (bucket) => {
      try {
        return readdirSync(path.join(directory, bucket, '._S3rver_uploads'));
      } catch {
        return [];
      }
    },
    createBucket: (name) => createBucket(endpoint, name, tlsFiles?.cert),
    stop,
  };
  try {
    for (const name of opts.buckets ?? []) await server.createBucket(name);
  } catch (err) {
    await stop();
    throw err;
  }
  return server;
}

async function createBucket(endpoint: string, name: string, caFile?: string): Promise<void> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const httpsAgent = caFile ? new https.Agent({ ca: readFileSync(caFile) }) : undefined;
  const client = new S3Client({
    endpoint,
    region: S3RVER_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(httpsAgent ? { requestHandler: { httpsAgent } } : {}),
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } catch (err) {
    const code = (err as { name?: string }).name;
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
  } finally {
    client.destroy();
  }
}

/** A self-signed certificate for 127.0.0.1, valid for a day. */
function makeCertificate(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return { key, cert };
}


/**
 * A minimal S3 client for measuring the server, not the client: SigV4-signed GET/PUT sent with
 * node:http on keep-alive sockets, no middleware. It costs well under 1 ms of CPU per small
 * request, where the AWS SDK v3 costs about 3 ms (bench/experiments/sdk-overhead.ts).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/backends/s3/lean-requests.js';

export interface RawS3 {
  get(bucket: string, key: string): Promise<Buffer>;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  close(): void;
}

export function rawS3(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, region: string, maxSockets = 16): RawS3 {
  const signer = new SignatureV4({ service: 's3', region, credentials, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const u = new URL(endpoint);
  const send = async (method: string, bucket: string, key: string, body?: Buffer): Promise<Buffer> => {
    const payloadHash = createHash('sha256')
      .update(body ?? '')
      .digest('hex');
    const signed = await signer.sign({
      method,
      protocol: 'http:',
      hostname: u.hostname,
      port: Number(u.port),
      path: `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      query: {},
      headers: { host: u.host, 'x-amz-content-sha256': payloadHash, ...(body ? { 'content-length': String(body.length) } : {}) },
    });
    return new Promise((resolve, reject) => {
      const req = http.request({ agent, method, host: u.hostname, port: u.port, path: signed.path, headers: signed.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${method} ${key}: HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  return {
    get: (bucket, key) => send('GET', bucket, key),
    put: async (bucket, key, body) => {
      await send('PUT', bucket, key, body);
    },
    close: () => agent.destroy(),
  };
}

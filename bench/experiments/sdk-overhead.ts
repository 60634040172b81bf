/**
 * How much CPU one small S3 request costs through the AWS SDK v3 versus a SigV4-signed request
 * sent with node:http (same signer family, keep-alive, 16 in flight), against s3rver.
 * On a 2-core machine the client's CPU competes with the server's, so this sets how fast an
 * initial push or fresh pull of many small files can go.
 *
 *   npm run build && node dist/bench/experiments/sdk-overhead.js [requests=1000]
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3rver } from '../../test/servers/s3rver.js';
import { rawS3 } from '../infra/raw-s3.js';

const credentials = { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY };

async function timed(label: string, n: number, fn: () => Promise<unknown>): Promise<{ label: string; perSec: number; cpuMsPerRequest: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  return { label, perSec: Math.round(n / (ms / 1000)), cpuMsPerRequest: Math.round(((c.user + c.system) / 1000 / n) * 100) / 100 };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  const server = await startS3rver({ buckets: ['exp'] });
  const body = Buffer.alloc(8192, 'y');
  const limit = pLimit(16);
  const all = (f: (i: number) => Promise<unknown>) => Promise.all(Array.from({ length: n }, (_, i) => limit(() => f(i))));
  const sdk = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const raw = rawS3(server.endpoint, credentials, 'us-east-1');
  try {
    await sdk.send(new PutObjectCommand({ Bucket: 'exp', Key: 'warm-up', Body: body }));
    await raw.get('exp', 'warm-up');
    const results = [
      await timed('raw signed PUT', n, () => all((i) => raw.put('exp', `raw/${i}`, body))),
      await timed('raw signed GET', n, () => all((i) => raw.get('exp', `raw/${i}`))),
      await timed('SDK PutObject', n, () => all((i) => sdk.send(new PutObjectCommand({ Bucket: 'exp', Key: `sdk/${i}`, Body: body })))),
      await timed('SDK GetObject', n, () => all(async (i) => (await sdk.send(new GetObjectCommand({ Bucket: 'exp', Key: `sdk/${i}` }))).Body!.transformToByteArray())),
    ];
    for (const r of results) process.stdout.write(`${r.label.padEnd(16)} ${String(r.perSec).padStart(5)} requests/s   ${r.cpuMsPerRequest.toFixed(2)} ms CPU per request (client side)\n`);
  } finally {
    sdk.destroy();
    raw.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

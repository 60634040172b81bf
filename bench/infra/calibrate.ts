/**
 * How fast the server itself goes: small PUTs and GETs sent with the SDK at 16 in flight, straight
 * to s3rver and through the counting proxy. Every contender's initial push and fresh pull is
 * bounded by this floor (files ÷ requests per second), however little work the tool itself does.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';

export interface ServerCalibration {
  objects: number;
  objectBytes: number;
  inFlight: number;
  direct: { putPerSec: number; getPerSec: number };
  proxied: { putPerSec: number; getPerSec: number };
}

function client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, region: string): S3Client {
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

async function rate(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const limit = pLimit(inFlight);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => limit(() => op(i))));
  return n / ((performance.now() - t0) / 1000);
}

export async function calibrateServer(
  endpoints: { direct: string; proxied: string },
  credentials: { accessKeyId: string; secretAccessKey: string },
  region: string,
  bucket: string,
  objects = 400,
): Promise<ServerCalibration> {
  const body = Buffer.alloc(8 * 1024, 'x');
  const inFlight = 16;
  const measure = async (endpoint: string, tag: string) => {
    const c = client(endpoint, credentials, region);
    try {
      const key = (i: number) => `calibrate/${tag}/${i}`;
      const putPerSec = await rate(objects, inFlight, (i) => c.send(new PutObjectCommand({ Bucket: bucket, Key: key(i), Body: body })));
      const getPerSec = await rate(objects, inFlight, async (i) => {
        const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key(i) }));
        await res.Body!.transformToByteArray();
      });
      return { putPerSec: Math.round(putPerSec), getPerSec: Math.round(getPerSec) };
    } finally {
      c.destroy();
    }
  };
  const direct = await measure(endpoints.direct, 'direct');
  const proxied = await measure(endpoints.proxied, 'proxied');
  return { objects, objectBytes: body.length, inFlight, direct, proxied };
}

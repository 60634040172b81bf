/**
 * How fast the server itself goes: small PUTs and GETs at 16 in flight from a lean client
 * (bench/infra/raw-s3.ts, so the client's own CPU takes as little of the 2 cores as possible),
 * straight to s3rver and through the counting proxy. Every contender's initial push and fresh
 * pull is bounded by this (files ÷ requests per second), however little work the tool does.
 */
import pLimit from 'p-limit';
import { rawS3 } from './raw-s3.js';

export interface ServerCalibration {
  objects: number;
  objectBytes: number;
  inFlight: number;
  direct: { putPerSec: number; getPerSec: number };
  proxied: { putPerSec: number; getPerSec: number };
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
  objects = 500,
): Promise<ServerCalibration> {
  const body = Buffer.alloc(8 * 1024, 'x');
  const inFlight = 16;
  const measure = async (endpoint: string, tag: string) => {
    const c = rawS3(endpoint, credentials, region, inFlight);
    try {
      const key = (i: number) => `calibrate/${tag}/${i}`;
      // Warm up: connections, JIT, s3rver's first folder creations.
      await rate(50, inFlight, (i) => c.put(bucket, `calibrate/${tag}-warm/${i}`, body));
      const putPerSec = await rate(objects, inFlight, (i) => c.put(bucket, key(i), body));
      const getPerSec = await rate(objects, inFlight, (i) => c.get(bucket, key(i)));
      return { putPerSec: Math.round(putPerSec), getPerSec: Math.round(getPerSec) };
    } finally {
      c.close();
    }
  };
  const direct = await measure(endpoints.direct, 'direct');
  const proxied = await measure(endpoints.proxied, 'proxied');
  return { objects, objectBytes: body.length, inFlight, direct, proxied };
}

/**
 * The harness's own view of the S3 store (straight to s3rver, not through the counting proxy,
 * so checks are never counted against a contender): list a prefix with sizes and ETags, read an
 * object back to hash it, delete a prefix between runs.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { FileFacts } from '../data/tree.js';

export interface RemoteObject {
  key: string;
  size: number;
  /** MD5 of the stored bytes in hex, when the listing tells it (s3rver's ETag; Azure's Content-MD5). */
  md5?: string;
}

/** What the checks need from a store: S3 (s3rver) and Azure (Azurite) both provide it. */
export interface RemoteAdmin {
  list(bucket: string, prefix: string): Promise<RemoteObject[]>;
  hashObject(bucket: string, key: string): Promise<FileFacts>;
  /** The whole object, in memory (packs and documents: megabytes, not gigabytes). */
  readObject(bucket: string, key: string): Promise<Buffer>;
  deleteKeys(bucket: string, keys: string[]): Promise<void>;
  deletePrefix(bucket: string, prefix: string): Promise<number>;
  close(): void;
}

const MD5_HEX = /^[0-9a-f]{32}$/;

export class S3Admin implements RemoteAdmin {
  readonly client: S3Client;

  constructor(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, region: string) {
    this.client = new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** All objects under `prefix/`. */
  async list(bucket: string, prefix: string): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        // s3rver's ETag is the MD5 of the bytes it stored, multipart included (a real S3's is not, for multipart).
        const etag = (o.ETag ?? '').replace(/"/g, '');
        out.push({ key: o.Key!, size: o.Size ?? -1, ...(MD5_HEX.test(etag) ? { md5: etag } : {}) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async hashObject(bucket: string, key: string): Promise<FileFacts> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    let size = 0;
    for await (const chunk of res.Body as Readable) {
      md5.update(chunk as Buffer);
      sha.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { size, md5: md5.digest('hex'), sha256: sha.digest('hex') };
  }

  async readObject(bucket: string, key: string): Promise<Buffer> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const chunks: Buffer[] = [];
    for await (const chunk of res.Body as Readable) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async deleteKeys(bucket: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      if (res.Errors && res.Errors.length > 0) throw new Error(`Deleting ${batch.length} objects failed for ${res.Errors.length}: ${res.Errors[0]?.Message}`);
    }
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    const keys = (await this.list(bucket, prefix)).map((o) => o.key);
    await this.deleteKeys(bucket, keys);
    return keys.length;
  }

  close(): void {
    this.client.destroy();
  }
}

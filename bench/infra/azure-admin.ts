/**
 * The harness's own view of the Azure store (straight to Azurite, not through the counting
 * proxy): list a prefix with sizes and Content-MD5, read a blob back to hash it, delete a prefix.
 */
import { createHash } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { FileFacts } from '../data/tree.js';
import type { RemoteAdmin, RemoteObject } from './s3-admin.js';

export class AzureAdmin implements RemoteAdmin {
  readonly service: BlobServiceClient;

  constructor(endpoint: string, account: string, key: string) {
    this.service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key));
  }

  async list(container: string, prefix: string): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    for await (const b of this.service.getContainerClient(container).listBlobsFlat({ prefix: `${prefix}/` })) {
      const md5 = b.properties.contentMD5;
      out.push({ key: b.name, size: b.properties.contentLength ?? -1, ...(md5 && md5.length === 16 ? { md5: Buffer.from(md5).toString('hex') } : {}) });
    }
    return out;
  }

  async hashObject(container: string, key: string): Promise<FileFacts> {
    const res = await this.service.getContainerClient(container).getBlobClient(key).download();
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    let size = 0;
    for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) {
      md5.update(chunk);
      sha.update(chunk);
      size += chunk.length;
    }
    return { size, md5: md5.digest('hex'), sha256: sha.digest('hex') };
  }

  async readObject(container: string, key: string): Promise<Buffer> {
    return this.service.getContainerClient(container).getBlobClient(key).downloadToBuffer();
  }

  async deleteKeys(container: string, keys: string[]): Promise<void> {
    const c = this.service.getContainerClient(container);
    // Azurite has no batch delete worth the trouble; 16 at a time is quick enough for a prefix.
    for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map((k) => c.deleteBlob(k, { deleteSnapshots: 'include' })));
  }

  async deletePrefix(container: string, prefix: string): Promise<number> {
    const keys = (await this.list(container, prefix)).map((o) => o.key);
    await this.deleteKeys(container, keys);
    return keys.length;
  }

  close(): void {
    // The SDK's HTTP agent holds no timers that keep the process alive.
  }
}

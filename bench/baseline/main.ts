/**
 * The Prefect-style baseline: what Prefect's `push_to_s3` / `pull_from_s3` steps do today,
 * written with the AWS SDK for JavaScript so it runs here without Python packages.
 *
 * push: walk the whole tree (ignored folders are walked too, then filtered, as Prefect does),
 *       apply .prefectignore with gitignore rules, upload every file one at a time; files past
 *       8 MiB go multipart with 10 parts in flight (boto3's upload_file defaults). Never deletes.
 * pull: list the folder, then download every object one at a time; never deletes.
 *
 * Usage: node dist/bench/baseline/main.js push|pull --dir D --bucket B --folder F [--endpoint URL]
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import ignore from 'ignore';

const MULTIPART_THRESHOLD = 8 * 1024 * 1024;

function walkAll(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const ent of readdirSync(rel === '' ? root : path.join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? ent.name : `${rel}/${ent.name}`;
      if (ent.isDirectory()) visit(child);
      else if (ent.isFile() || (ent.isSymbolicLink() && statSync(path.join(root, child), { throwIfNoEntry: false })?.isFile())) out.push(child);
    }
  };
  visit('');
  return out.sort();
}

function prefectignore(root: string) {
  const file = path.join(root, '.prefectignore');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()) : [];
  return ignore().add(lines.filter((l) => l !== '' && !l.startsWith('#')));
}

async function push(client: S3Client, dir: string, bucket: string, folder: string): Promise<number> {
  const ig = prefectignore(dir);
  let n = 0;
  for (const rel of walkAll(dir).filter((p) => !ig.ignores(p))) {
    const file = path.join(dir, ...rel.split('/'));
    const key = `${folder}/${rel}`;
    const size = statSync(file).size;
    if (size > MULTIPART_THRESHOLD) {
      await new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(file) }, partSize: MULTIPART_THRESHOLD, queueSize: 10 }).done();
    } else {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file) }));
    }
    n++;
  }
  return n;
}

async function pull(client: S3Client, bucket: string, folder: string, dir: string): Promise<number> {
  const prefix = `${folder}/`;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key && !o.Key.endsWith('/')) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  for (const key of keys) {
    const target = path.join(dir, ...key.slice(prefix.length).split(/[\\/]/));
    mkdirSync(path.dirname(target), { recursive: true });
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(res.Body as Readable, createWriteStream(target));
  }
  return keys.length;
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: 'string' }, bucket: { type: 'string' }, folder: { type: 'string' }, endpoint: { type: 'string' } },
  });
  const [command] = positionals;
  const { dir, bucket, folder, endpoint } = values;
  if ((command !== 'push' && command !== 'pull') || !dir || !bucket || !folder) {
    process.stderr.write('usage: baseline push|pull --dir D --bucket B --folder F [--endpoint URL]\n');
    return 2;
  }
  const client = new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // s3rver stores a body sent with the SDK's default streaming checksums verbatim (corrupt).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const n = command === 'push' ? await push(client, dir, bucket, folder) : await pull(client, bucket, folder, dir);
    process.stdout.write(JSON.stringify({ command, files: n }) + '\n');
    return 0;
  } finally {
    client.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`baseline failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

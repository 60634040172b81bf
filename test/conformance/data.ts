/** Test data and small assertion helpers for the conformance suite. */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { FlowsyncError, type ErrorCode } from '../../src/errors.js';
import type { Backend, ReadOptions } from '../../src/backends/types.js';
import { collect } from '../../src/util/streams.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Period of `seededBytes`: a prime, so no shift by a multiple of a part size maps the data onto itself. */
const SEEDED_PERIOD = 4_000_037;

/**
 * `size` pseudo-random bytes that depend only on `seed`. A block of AES-256-CTR output (fast
 * pseudo-random bytes) is repeated with a prime period: generating 50 MB outright costs about a
 * second on a busy 2-core machine, and because no part size is a multiple of the period, a part
 * written at the wrong offset still changes the object's bytes.
 */
export function seededBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const block = cipher.update(Buffer.alloc(Math.min(size, SEEDED_PERIOD))); // CTR: final() adds nothing
  const out = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += block.length) block.copy(out, at, 0, Math.min(block.length, size - at));
  return out;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Size and hash: what two buffers are compared by, so a failure never prints megabytes. */
export function digestOf(data: Uint8Array): { size: number; sha256: string } {
  return { size: data.length, sha256: sha256Hex(data) };
}

export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  expect(digestOf(actual), `${what}: bytes differ`).toEqual(digestOf(expected));
}

export async function readAll(backend: Backend, key: string, o?: ReadOptions): Promise<Buffer> {
  return collect(await backend.read(key, o));
}

/** A Readable that hands out `data` in chunks of `chunkSize`, asynchronously, like a file stream. */
export function chunkedReadable(data: Uint8Array, chunkSize: number): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += chunkSize) {
        await new Promise((resolve) => setImmediate(resolve));
        yield Buffer.from(data.subarray(at, at + chunkSize));
      }
    })(),
  );
}

/** Runs `action` and checks that it fails with a FlowsyncError of `code`. */
export async function expectCode(action: () => Promise<unknown>, code: ErrorCode, what: string): Promise<FlowsyncError> {
  let outcome: unknown;
  try {
    await action();
  } catch (err) {
    outcome = err;
  }
  if (outcome === undefined) expect.fail(`${what}: expected FlowsyncError ${code}, but it succeeded`);
  if (!(outcome instanceof FlowsyncError)) {
    expect.fail(`${what}: expected FlowsyncError ${code}, got ${String((outcome as Error)?.stack ?? outcome)}`);
  }
  expect(outcome.code, `${what}: error code (message: ${outcome.message})`).toBe(code);
  return outcome;
}

export async function listAll(backend: Backend, prefix: string): Promise<{ key: string; size: number }[]> {
  const found: { key: string; size: number }[] = [];
  for await (const o of backend.list(prefix)) found.push({ key: o.key, size: o.size });
  return found;
}

/** `listed` holds each expected key exactly once, with its size, and nothing else. */
export function expectListing(listed: { key: string; size: number }[], expected: Map<string, number>, what: string): void {
  const seen = new Map<string, number>();
  const duplicates: string[] = [];
  const wrongSize: string[] = [];
  for (const o of listed) {
    if (seen.has(o.key)) duplicates.push(o.key);
    seen.set(o.key, o.size);
    const size = expected.get(o.key);
    if (size !== undefined && size !== o.size) wrongSize.push(`${o.key}: listed ${o.size}, wrote ${size}`);
  }
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  const extra = [...seen.keys()].filter((k) => !expected.has(k));
  // Compare a short report, not 1,100-entry arrays.
  expect({ duplicates: duplicates.slice(0, 10), missing: missing.slice(0, 10), extra: extra.slice(0, 10), wrongSize: wrongSize.slice(0, 10) }, what).toEqual({
    duplicates: [],
    missing: [],
    extra: [],
    wrongSize: [],
  });
  expect(listed.length, `${what}: number of entries`).toBe(expected.size);
}

/**
 * Start and stop the in-repo GCS emulator for tests and benchmarks: in this process (cheap,
 * lets a test inject faults or tamper with stored bytes), or as a child process stopped by PID
 * (what a benchmark wants, so the emulator does not share the event loop with the client).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startGcsEmulator, type GcsEmulator, type GcsEmulatorOptions } from './gcs-emulator.js';

export type { GcsEmulator } from './gcs-emulator.js';

/** An emulator in this process. */
export function startGcs(opts: GcsEmulatorOptions = {}): Promise<GcsEmulator> {
  return startGcsEmulator(opts);
}

export interface GcsChild {
  endpoint: string;
  port: number;
  pid: number;
  /** Requests served and resumable sessions still open, from the emulator's control API. */
  stats(): Promise<{ requests: number; pendingUploads: number; buckets: string[] }>;
  stop(): Promise<void>;
}

/**
 * The emulator as a runnable file. Compiled (dist) it sits beside this module; run from the
 * TypeScript sources (vitest), it is transpiled once into a temporary folder — it imports only
 * node modules, so a one-file transpile is all it needs.
 */
async function emulatorScript(): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return { file: path.join(path.dirname(here), 'gcs-emulator.js'), cleanup: async () => {} };
  const ts = (await import('typescript')).default;
  const source = await fsp.readFile(path.join(path.dirname(here), 'gcs-emulator.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gcs-emulator-'));
  const file = path.join(dir, 'gcs-emulator.mjs');
  await fsp.writeFile(file, outputText);
  return { file, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

export async function spawnGcsEmulator(opts: { port?: number; buckets?: string[]; requireAuth?: boolean } = {}): Promise<GcsChild> {
  const { file, cleanup } = await emulatorScript();
  const args = [file, '--port', String(opts.port ?? 0)];
  for (const b of opts.buckets ?? []) args.push('--bucket', b);
  if (opts.requireAuth) args.push('--require-auth');
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ready = await new Promise<{ endpoint: string; port: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line) as { endpoint: string; port: number });
      } catch (err) {
        reject(err);
      }
    });
    child.once('exit', (code) => reject(new Error(`GCS emulator exited with ${code} before it was ready: ${stderr.trim()}`)));
  }).catch(async (err: unknown) => {
    await cleanup();
    throw err;
  });

  return {
    ...ready,
    pid: child.pid!,
    async stats() {
      const res = await fetch(`${ready.endpoint}/_emulator/stats`);
      return (await res.json()) as { requests: number; pendingUploads: number; buckets: string[] };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    },
  };
}

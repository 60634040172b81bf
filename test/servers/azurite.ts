/**
 * Start Azurite's blob service on 127.0.0.1 for tests, e2e runs and the benchmark.
 *
 * Azurite listens on a port the OS picks (`--blobPort 0`) and prints it; reading the port from
 * its output avoids the race of "find a free port, then bind it". Data lives in memory only.
 * The child is stopped by PID (SIGTERM, then SIGKILL), killed when this process exits, and a
 * tiny watchdog inside it exits on its own if this process dies without cleaning up.
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { startChildServer } from './child-server.js';

/** The emulator's fixed, publicly documented development account (not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  /** Blob service URL including the account path, e.g. http://127.0.0.1:41234/devstoreaccount1 */
  endpoint: string;
  port: number;
  connectionString: string;
  /** Environment for code that reads the standard variable. */
  env: { AZURE_STORAGE_CONNECTION_STRING: string };
  pid: number;
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Containers to create before returning. */
  containers?: string[];
  /** How long to wait for Azurite to listen (default 30 s; a busy 2-core machine is slow). */
  startTimeoutMs?: number;
}

const LISTENING = /successfully listens on https?:\/\/[^\s:]+:(\d+)/;

// Preloaded into the Azurite process: exit when the parent that started it is gone (its parent
// pid changes when it is re-parented), so a crashed test run never leaves a server behind.
const WATCHDOG =
  'data:text/javascript,' +
  encodeURIComponent(
    'const p=Number(process.env.FLOWSYNC_AZURITE_PARENT);' +
      'setInterval(()=>{if(process.ppid!==p)process.exit(0)},1000).unref();',
  );

function azuriteBlobScript(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

export function azuriteConnectionString(endpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
}

export async function startAzurite(opts: StartAzuriteOptions = {}): Promise<AzuriteServer> {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'flowsync-azurite-'));
  const args = [
    '--import',
    WATCHDOG,
    azuriteBlobScript(),
    '--blobHost', '127.0.0.1',
    '--blobPort', '0',
    '--inMemoryPersistence',
    '--skipApiVersionCheck',
    '--loose',
    '--disableTelemetry',
    '--silent',
    // Idle keep-alive sockets live 60 s instead of 5: a client pausing between phases (hashing,
    // planning) then rarely reuses a socket the server is just closing.
    '--blobKeepAliveTimeout', '60',
    // No --location: Azurite refuses it together with --inMemoryPersistence. The temp cwd
    // catches anything it might still write (debug logs), and is removed on stop.
  ];
  const { port, pid, stop } = await startChildServer({
    name: 'Azurite',
    args,
    workspace,
    env: { ...process.env, FLOWSYNC_AZURITE_PARENT: String(process.pid), NODE_OPTIONS: '' },
    portLine: LISTENING,
    startTimeoutMs: opts.startTimeoutMs ?? 30_000,
  });

  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = azuriteConnectionString(endpoint);
  const server: AzuriteServer = {
    endpoint,
    port,
    connectionString,
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
    pid,
    stop,
  };
  try {
    for (const name of opts.containers ?? []) await createContainer(server, name);
  } catch (err) {
    await stop();
    throw err;
  }
  return server;
}

/** Create a container (no error if it already exists). */
export async function createContainer(server: Pick<AzuriteServer, 'connectionString'>, name: string): Promise<void> {
  const { ContainerClient } = await import('@azure/storage-blob');
  await new ContainerClient(server.connectionString, name).createIfNotExists();
}

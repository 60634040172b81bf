/**
 * The one shared HTTP set-up (rclone's fshttp): keep-alive agents sized for the engine's
 * concurrency and CA bundles added to Node's roots. Every backend that opens its own sockets
 * (S3's request handler, GCS resumable sessions) takes its agents from here.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { FlowsyncError } from '../errors.js';

export interface HttpOptions {
  /** A PEM bundle to trust on top of Node's roots (and NODE_EXTRA_CA_CERTS). */
  caFile?: string | undefined;
  /** Where caFile came from, for the error message (e.g. "tls.caFile / AWS_CA_BUNDLE"). */
  caFileSource?: string;
  rejectUnauthorized?: boolean | undefined;
  /** Sockets per agent (default 64), so 16-64 concurrent transfers are not queued. */
  maxSockets?: number | undefined;
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function createAgents(o: HttpOptions = {}): Agents {
  const base = { keepAlive: true, maxSockets: o.maxSockets ?? 64 };
  return {
    http: new http.Agent(base),
    https: new https.Agent({
      ...base,
      // Add the bundle to the roots Node would use rather than replace them (a `ca` option also
      // drops NODE_EXTRA_CA_CERTS, so that file is added back).
      ...(o.caFile ? { ca: [...rootCertificates, ...extraCaCerts(), readCaFile(o.caFile, o.caFileSource)] } : {}),
      ...(o.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    }),
  };
}

let shared: Agents | undefined;

/** Process-wide default agents, for callers without options of their own. */
export function sharedAgents(): Agents {
  return (shared ??= createAgents());
}

export function agentFor(url: URL, agents: Agents = sharedAgents()): http.Agent {
  return url.protocol === 'https:' ? agents.https : agents.http;
}

function extraCaCerts(): string[] {
  const file = process.env['NODE_EXTRA_CA_CERTS'];
  try {
    return file ? [readFileSync(file, 'utf8')] : [];
  } catch {
    return []; // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS
  }
}

function readCaFile(file: string, source = 'the CA bundle option'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlowsyncError('INVALID_INPUT', `Cannot read the CA bundle ${file} (${source}). Fix the path or unset it.`, { cause: err });
  }
}

/**
 * Where registry credentials come from, first match wins:
 * 1. given explicitly (a prefect.yaml `credentials` block);
 * 2. FLOWSYNC_REGISTRY_USERNAME / FLOWSYNC_REGISTRY_PASSWORD;
 * 3. Docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json): `credHelpers`
 *    for this registry, else `credsStore`, else `auths` (`auth` = base64 "user:password").
 * Helpers are the `docker-credential-<name>` programs on PATH: `get` reads the server on stdin
 * and answers `{"Username", "Secret"}`. Every secret found is registered with the scrubber.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { DOCKER_HUB } from '../reference.js';

export interface RegistryCredentials {
  username: string;
  password: string;
  /** For messages: where the credentials were found. */
  source: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

const HELPER_TIMEOUT_MS = 30_000;

/** The keys Docker uses for a registry in config.json (Docker Hub has its historical URL). */
function configKeys(registry: string): string[] {
  if (registry === DOCKER_HUB) return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', DOCKER_HUB];
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

function normaliseKey(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function pick<T>(map: Record<string, T> | undefined, registry: string): T | undefined {
  if (!map) return undefined;
  for (const k of configKeys(registry)) if (map[k] !== undefined) return map[k];
  const want = normaliseKey(configKeys(registry)[0]!);
  for (const [k, v] of Object.entries(map)) if (normaliseKey(k) === want) return v;
  return undefined;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

async function readDockerConfig(file: string): Promise<DockerConfig | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (err) {
    throw new FlowsyncError('INVALID_INPUT', `${file} is not valid JSON, so no registry credentials could be read from it. Fix or remove it (docker login rewrites it).`, { cause: err });
  }
}

export async function findCredentials(registry: string, env: NodeJS.ProcessEnv, explicit?: { username?: string; password?: string }): Promise<RegistryCredentials | null> {
  const found = await lookup(registry, env, explicit);
  if (found) {
    registerSecret(found.password);
    registerSecret(Buffer.from(`${found.username}:${found.password}`).toString('base64'));
  }
  return found;
}

async function lookup(registry: string, env: NodeJS.ProcessEnv, explicit?: { username?: string; password?: string }): Promise<RegistryCredentials | null> {
  if (explicit?.username && explicit.password) return { username: explicit.username, password: explicit.password, source: 'the step credentials' };
  const user = env.FLOWSYNC_REGISTRY_USERNAME;
  const pass = env.FLOWSYNC_REGISTRY_PASSWORD;
  if (user && pass) return { username: user, password: pass, source: 'FLOWSYNC_REGISTRY_USERNAME/PASSWORD' };
  const file = dockerConfigPath(env);
  const config = await readDockerConfig(file);
  if (!config) return null;
  const helper = pick(config.credHelpers, registry) ?? config.credsStore;
  if (helper) {
    const fromHelper = await runHelper(helper, registry, env);
    if (fromHelper) return fromHelper;
  }
  const entry = pick(config.auths, registry);
  if (!entry) return null;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: file };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password, source: file };
  return null;
}

function runHelper(name: string, registry: string, env: NodeJS.ProcessEnv): Promise<RegistryCredentials | null> {
  const program = `docker-credential-${name}`;
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: HELPER_TIMEOUT_MS });
    let out = '';
    let errText = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (errText += c.toString('utf8')));
    child.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new FlowsyncError('AUTH', `Docker's config names the credential helper "${name}", but ${program} is not on PATH. Install it, or remove "credsStore"/"credHelpers" from ${dockerConfigPath(env)}.`, { cause: err }));
      } else reject(new FlowsyncError('AUTH', `${program} could not be run: ${err.message}.`, { cause: err }));
    });
    child.on('close', (code) => {
      if (code !== 0) {
        // Helpers answer "credentials not found in native keychain" when they have nothing.
        if (/not found/i.test(out + errText)) return resolve(null);
        return reject(new FlowsyncError('AUTH', `${program} get failed (exit ${code}) for ${server}: ${(out + errText).trim().slice(0, 200)}`));
      }
      try {
        const r = JSON.parse(out) as { Username?: string; Secret?: string };
        if (!r.Secret) return resolve(null);
        resolve({ username: r.Username ?? '', password: r.Secret, source: program });
      } catch (err) {
        reject(new FlowsyncError('AUTH', `${program} get answered something that is not JSON.`, { cause: err }));
      }
    });
    child.stdin.end(server);
  });
}

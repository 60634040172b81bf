/**
 * A container engine for what flowsync cannot build without one (RUN, multi-stage, …), found on
 * PATH as Prefect would use it: docker (only when its daemon answers), podman, buildah. The
 * image it builds stays in the engine's store; the push step then pushes with the same engine.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FlowsyncError } from '../errors.js';
import type { Logger } from './types.js';

export type EngineName = 'docker' | 'podman' | 'buildah';

export interface Engine {
  name: EngineName;
  program: string;
}

export interface EngineLookup {
  engine: Engine | null;
  /** Why an engine on PATH was not usable ("docker is on PATH but its daemon does not answer"). */
  notes: string[];
}

function onPath(program: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const full = path.join(dir, program);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      if (fs.statSync(full).isFile()) return full;
    } catch {
      // not here
    }
  }
  return null;
}

export function findEngine(env: NodeJS.ProcessEnv): EngineLookup {
  const notes: string[] = [];
  for (const name of ['docker', 'podman', 'buildah'] as const) {
    const program = onPath(name, env);
    if (!program) continue;
    if (name === 'docker') {
      const probe = spawnSync(program, ['info', '--format', '{{.ServerVersion}}'], { env, timeout: 10_000, encoding: 'utf8' });
      if (probe.status !== 0) {
        notes.push(`docker is on PATH but its daemon does not answer`);
        continue;
      }
    }
    return { engine: { name, program }, notes };
  }
  return { engine: null, notes };
}

function run(engine: Engine, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; log: Logger; signal?: AbortSignal }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(engine.program, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal } : {}) });
    let out = '';
    let tail = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      tail = (tail + text).slice(-2000);
      for (const line of text.split('\n')) if (line.trim()) o.log.info(line);
    });
    child.on('error', (err) => reject(new FlowsyncError('STEP_FAILED', `${engine.name} could not be run: ${err.message}`, { cause: err })));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new FlowsyncError('STEP_FAILED', `${engine.name} ${args[0]} failed (exit ${code}): ${tail.trim().split('\n').slice(-3).join(' / ')}`))));
  });
}

export async function engineBuild(
  engine: Engine,
  b: { context: string; dockerfile: string; image: string; platform?: string; buildArgs?: Record<string, string>; labels?: Record<string, string> },
  o: { env: NodeJS.ProcessEnv; log: Logger; signal?: AbortSignal },
): Promise<string> {
  const args = [engine.name === 'buildah' ? 'bud' : 'build', '-t', b.image, '-f', b.dockerfile];
  if (b.platform) args.push('--platform', b.platform);
  for (const [k, v] of Object.entries(b.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(b.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(b.context);
  await run(engine, args, { cwd: b.context, ...o });
  const id = await run(engine, ['inspect', '--format', engine.name === 'buildah' ? '{{.FromImageID}}' : '{{.Id}}', b.image], { cwd: b.context, ...o });
  return id.trim();
}

export async function enginePush(engine: Engine, image: string, tags: string[], o: { cwd: string; env: NodeJS.ProcessEnv; log: Logger; signal?: AbortSignal }): Promise<void> {
  const repo = image.replace(/:[^/:]+$/, '');
  for (const t of tags) {
    const ref = `${repo}:${t}`;
    if (ref !== image) await run(engine, ['tag', image, ref], o);
    await run(engine, ['push', ref], o);
  }
}

/**
 * Run one child process without a shell: capture stdout/stderr (optionally also line by line as
 * they arrive), honour an AbortSignal (the child is killed), never throw on a non-zero exit —
 * callers decide what a failure means and how to word it.
 */
import { spawn } from 'node:child_process';
import { FlowsyncError, abortError } from '../errors.js';

export interface RunProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
}

export interface ProcessResult {
  code: number | null;
  /** Set when the child was ended by a signal. */
  killedBy: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runProcess(argv: readonly string[], o: RunProcessOptions): Promise<ProcessResult> {
  const [command, ...args] = argv;
  if (!command) return Promise.reject(new FlowsyncError('INVALID_INPUT', 'Empty command.'));
  if (o.signal?.aborted) return Promise.reject(abortError(o.signal));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const outLines = lineSplitter(o.onStdoutLine);
    const errLines = lineSplitter(o.onStderrLine);
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      outLines.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      errLines.push(b);
    });
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (e.code === 'ENOENT') {
        reject(new FlowsyncError('NOT_FOUND', `Cannot run "${command}": it is not installed or not on PATH (or the folder ${o.cwd} does not exist).`, { cause: e }));
      } else {
        reject(new FlowsyncError('IO', `Cannot run "${command}": ${e.message}`, { cause: e }));
      }
    });
    child.on('close', (code, killedBy) => {
      o.signal?.removeEventListener('abort', onAbort);
      outLines.end();
      errLines.end();
      if (o.signal?.aborted) {
        reject(abortError(o.signal));
        return;
      }
      resolve({ code, killedBy, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

function lineSplitter(onLine: ((line: string) => void) | undefined): { push(b: Buffer): void; end(): void } {
  let pending = '';
  return {
    push(b) {
      if (!onLine) return;
      pending += b.toString('utf8');
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    },
    end() {
      if (onLine && pending) onLine(pending);
      pending = '';
    },
  };
}

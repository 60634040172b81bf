/**
 * A test server in a child process: spawned on a port it picks itself (it prints the port, so
 * there is no free-port race), stopped by PID (SIGTERM, then SIGKILL after a grace period),
 * killed when this process exits, and its temporary folder removed once it is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface ChildServerOptions {
  /** For messages: "s3rver", "Azurite". */
  name: string;
  args: string[];
  /** The server's own temporary folder (its cwd); removed when it stops. */
  workspace: string;
  env: NodeJS.ProcessEnv;
  /** A line of the server's output that carries its port in the first group. */
  portLine: RegExp;
  startTimeoutMs: number;
  /** Keep a pipe to the child's stdin (it may watch it to notice its parent is gone). */
  stdin?: boolean;
  /** Do not keep this process alive for the server's sake. */
  unref?: boolean;
}

export interface ChildServer {
  child: ChildProcess;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

const GRACE_MS = 3000;

export async function startChildServer(o: ChildServerOptions): Promise<ChildServer> {
  const child = spawn(process.execPath, o.args, { cwd: o.workspace, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: o.env });
  running.add(child);
  installExitHook();
  if (o.unref) {
    child.unref();
    for (const pipe of [child.stdin, child.stdout, child.stderr]) (pipe as unknown as { unref?: () => void } | null)?.unref?.();
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = () => {
    running.delete(child);
    rmSync(o.workspace, { recursive: true, force: true });
  };
  void exited.then(cleanup);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    })();
    return stopping;
  };
  try {
    const port = await waitForPort(child, o);
    return { child, port, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function waitForPort(child: ChildProcess, o: ChildServerOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = o.portLine.exec(output);
      if (m) {
        done();
        // Keep draining the pipes so a chatty child never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      done();
      reject(new Error(`${o.name} exited before listening (code ${code}, signal ${signal}): ${output.trim().slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${o.name} did not start listening within ${o.startTimeoutMs} ms: ${output.trim().slice(-2000)}`));
    }, o.startTimeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

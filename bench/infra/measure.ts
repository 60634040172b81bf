/**
 * Run a contender as a whole process and measure it: wall time, user+sys CPU and peak RSS.
 *
 * Node cannot read a child's rusage, so a tiny python3 wrapper starts the command and reaps it
 * with os.wait4, which returns the child's (and its waited-for descendants') rusage. The clock
 * starts just before the fork and stops when wait4 returns: the wrapper's own start-up is not
 * counted. The child's stdout/stderr go to files (read afterwards, never through a pipe that
 * could fill up and stall it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Measurement {
  exitCode: number;
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** Peak resident set size, in KiB (ru_maxrss on Linux). */
  maxRssKb: number;
  timedOut: boolean;
}

export interface CommandSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface MeasuredRun extends Measurement {
  stdout: string;
  stderr: string;
}

const WRAPPER = `
import json, os, signal, subprocess, sys, time
spec = json.loads(sys.stdin.read())
out = open(spec["stdout"], "wb")
err = open(spec["stderr"], "wb")
timed_out = False
t0 = time.monotonic()
p = subprocess.Popen(spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
def on_alarm(signum, frame):
    global timed_out
    timed_out = True
    os.kill(p.pid, signal.SIGKILL)
signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(int(spec["timeout"]))
_, status, ru = os.wait4(p.pid, 0)
t1 = time.monotonic()
signal.alarm(0)
p.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"exitCode": p.returncode, "wallMs": (t1 - t0) * 1000.0, "userMs": ru.ru_utime * 1000.0,
                  "sysMs": ru.ru_stime * 1000.0, "maxRssKb": ru.ru_maxrss, "timedOut": timed_out}))
`;

let interpreter: string | undefined;

/** The real python3 binary: a version-manager shim (pyenv) would add ~0.5 s to every command. */
function python(): string {
  interpreter ??= execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim() || 'python3';
  return interpreter;
}

export async function measure(cmd: CommandSpec, files: { stdout: string; stderr: string }, timeoutSec: number): Promise<MeasuredRun> {
  const child = spawn(python(), ['-c', WRAPPER], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(JSON.stringify({ ...cmd, ...files, timeout: Math.max(1, Math.ceil(timeoutSec)) }));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`The measuring wrapper (python3) failed with exit code ${code}: ${err.trim().slice(-1000)}`);
  const m = JSON.parse(out) as Measurement;
  return { ...m, stdout: readFileSync(files.stdout, 'utf8'), stderr: readFileSync(files.stderr, 'utf8') };
}

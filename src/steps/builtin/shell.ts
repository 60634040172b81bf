/**
 * `run_shell_script` and `pip_install_requirements`, as Prefect's utility steps behave:
 * one process per non-empty line of the script (split like Python's shlex; a line with pipes,
 * redirections, `&&`, `||` or `;` — or any line when `shell: true` — runs under `sh -c`),
 * output captured and returned as `{stdout, stderr}` (stripped), a non-zero exit stops the step
 * with the stderr collected so far.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowsyncError } from '../../errors.js';
import { scrubSecrets } from '../../secrets.js';
import { runProcess } from '../process.js';
import type { StepContext, StepDefinition, StepResult } from '../types.js';
import { expandEnvVars, shellSplit, usesShellFeatures } from './shell-words.js';

/** A step's `directory` argument, relative to the steps' working folder; `~` is the home folder. */
export function resolveDir(ctx: StepContext, dir: unknown): string {
  if (typeof dir !== 'string' || dir === '') return ctx.cwd;
  const expanded = dir === '~' || dir.startsWith('~/') ? path.join(ctx.env['HOME'] ?? os.homedir(), dir.slice(1)) : dir;
  return path.resolve(ctx.cwd, expanded);
}

async function assertDir(dir: string, label: string): Promise<void> {
  const st = await fsp.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new FlowsyncError('NOT_FOUND', `${label}: the directory ${dir} does not exist. Check the "directory" argument (relative paths start at the steps' working folder).`);
}

function streamTo(ctx: StepContext, enabled: boolean): ((line: string) => void) | undefined {
  return enabled ? (line) => ctx.log.info(scrubSecrets(`    ${line}`)) : undefined;
}

export function shellArgv(line: string, useShell: boolean): string[] {
  if (useShell || usesShellFeatures(line)) return process.platform === 'win32' ? ['cmd', '/c', line] : ['sh', '-c', line];
  return shellSplit(line);
}

async function runShellScript(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult> {
  const script = args['script'] as string;
  const directory = resolveDir(ctx, args['directory']);
  await assertDir(directory, ctx.label);
  const extra = (args['env'] as Record<string, unknown> | undefined) ?? {};
  const env: NodeJS.ProcessEnv = { ...ctx.env };
  for (const [k, v] of Object.entries(extra)) env[k] = v === null || v === undefined ? '' : String(v);
  const stream = args['stream_output'] !== false;
  let stdout = '';
  let stderr = '';
  for (let line of script.split(/\r\n|\r|\n/)) {
    if (args['expand_env_vars'] === true) line = expandEnvVars(line, env);
    line = line.trim();
    if (!line) continue;
    const argv = shellArgv(line, args['shell'] === true);
    if (argv.length === 0) continue;
    const r = await runProcess(argv, { cwd: directory, env, signal: ctx.signal, onStdoutLine: streamTo(ctx, stream), onStderrLine: streamTo(ctx, stream) });
    stdout += r.stdout;
    stderr += r.stderr;
    if (r.code !== 0) {
      const how = r.code === null ? `was killed by ${r.killedBy}` : `exited with code ${r.code}`;
      throw new FlowsyncError('STEP_FAILED', `${ctx.label}: the command \`${line}\` ${how}${stderr.trim() ? `: ${stderr.trim()}` : ' (no stderr output)'}`);
    }
  }
  return { outputs: { stdout: stdout.trim(), stderr: stderr.trim() } };
}

/** The interpreter pip runs under: FLOWSYNC_PYTHON, else python3 (python on Windows). */
export function pythonExecutable(env: NodeJS.ProcessEnv): string {
  return env['FLOWSYNC_PYTHON'] || (process.platform === 'win32' ? 'python' : 'python3');
}

export function pipInstallArgv(env: NodeJS.ProcessEnv, requirementsFile: string): string[] {
  return [pythonExecutable(env), '-m', 'pip', 'install', '-r', requirementsFile];
}

async function pipInstallRequirements(args: Record<string, unknown>, ctx: StepContext): Promise<StepResult> {
  const directory = resolveDir(ctx, args['directory']);
  await assertDir(directory, ctx.label);
  const file = (args['requirements_file'] as string | undefined) || 'requirements.txt';
  const argv = pipInstallArgv(ctx.env, file);
  const stream = args['stream_output'] !== false;
  const r = await runProcess(argv, { cwd: directory, env: ctx.env, signal: ctx.signal, onStdoutLine: streamTo(ctx, stream), onStderrLine: streamTo(ctx, stream) });
  if (r.code !== 0) {
    throw new FlowsyncError(
      'STEP_FAILED',
      `${ctx.label}: \`${argv.join(' ')}\` in ${directory} exited with code ${r.code ?? r.killedBy}: ${r.stderr.trim() || r.stdout.trim() || '(no output)'}`,
    );
  }
  return { outputs: { stdout: r.stdout.trim(), stderr: r.stderr.trim() } };
}

export const runShellScriptStep: StepDefinition = {
  name: 'prefect.deployments.steps.run_shell_script',
  aliases: ['prefect.deployments.steps.utility.run_shell_script'],
  params: {
    script: { kind: 'string', required: true },
    directory: { kind: 'string' },
    env: { kind: 'mapping' },
    stream_output: { kind: 'boolean' },
    expand_env_vars: { kind: 'boolean' },
    shell: { kind: 'boolean' },
  },
  run: runShellScript,
};

export const pipInstallRequirementsStep: StepDefinition = {
  name: 'prefect.deployments.steps.pip_install_requirements',
  aliases: ['prefect.deployments.steps.utility.pip_install_requirements'],
  params: {
    directory: { kind: 'string' },
    requirements_file: { kind: 'string' },
    stream_output: { kind: 'boolean' },
  },
  run: pipInstallRequirements,
};

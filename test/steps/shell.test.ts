/**
 * run_shell_script, set_working_directory and pip_install_requirements, run through real
 * prefect.yaml files and real child processes. The Python-compatible helpers (shlex.split,
 * string.Template.safe_substitute) are checked against Python itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlowsyncError } from '../../src/errors.js';
import { expandEnvVars, shellSplit, usesShellFeatures } from '../../src/steps/builtin/shell-words.js';
import { pipInstallArgv } from '../../src/steps/builtin/shell.js';
import { runSteps, type RunStepsOptions, type RunStepsResult } from '../../src/steps/index.js';

let base: string;
beforeAll(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'flowsync-shell-')));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function project(yaml: string): string {
  const dir = mkdtempSync(path.join(base, 'p-'));
  writeFileSync(path.join(dir, 'prefect.yaml'), yaml);
  return dir;
}

async function run(yaml: string, o: Partial<RunStepsOptions> = {}): Promise<{ result?: RunStepsResult; error?: Error; logs: string[]; cwd: string }> {
  const cwd = o.cwd ?? project(yaml);
  if (o.cwd) writeFileSync(path.join(cwd, 'prefect.yaml'), yaml);
  const logs: string[] = [];
  try {
    const result = await runSteps({ section: 'pull', cwd, env: { ...process.env, GREETING: 'hi there' }, log: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) }, ...o });
    return { result, logs, cwd };
  } catch (error) {
    return { error: error as Error, logs, cwd };
  }
}

const python = (code: string, input: unknown): unknown => JSON.parse(execFileSync('python3', ['-c', code], { input: JSON.stringify(input), encoding: 'utf8' }));

describe('Python-compatible command helpers', () => {
  const commands = [
    'echo hello world',
    `printf '%s\\n' "a b" c`,
    `echo "it's" 'say "x"'`,
    'echo a\\ b c\\"d',
    `echo "back\\\\slash \\$HOME \\q"`,
    'echo  "" \'\' x',
    `a"b c"d 'e f'g`,
    '   spaced    out   ',
    'echo $HOME ${HOME}',
  ];
  it('shellSplit matches Python shlex.split', () => {
    const expected = python('import json,shlex,sys; print(json.dumps([shlex.split(c) for c in json.load(sys.stdin)]))', commands);
    expect(commands.map(shellSplit)).toEqual(expected);
  });

  it('shellSplit: an unclosed quote is an error that suggests shell: true', () => {
    expect(() => shellSplit('echo "open')).toThrow(/no closing quotation.*shell: true/);
  });

  it('expandEnvVars matches Python string.Template.safe_substitute', () => {
    const env = { NAME: 'World', _U: 'u', HOME: '/h' };
    const texts = ['echo $NAME', 'echo ${NAME}!', 'cost $$5', 'missing $NOPE and ${NOPE}', 'lone $ sign', '$NAME$_U', '${HOME}/x', '$1 $-'];
    const expected = python('import json,string,sys; d=json.load(sys.stdin); print(json.dumps([string.Template(t).safe_substitute(d["env"]) for t in d["texts"]]))', { env, texts });
    expect(texts.map((t) => expandEnvVars(t, env))).toEqual(expected);
  });

  it.each<[string, boolean]>([
    ['echo a | tr a A', true],
    ['make && make install', true],
    ['a || b', true],
    ['echo a; echo b', true],
    ['echo a > out.txt', true],
    ['sort < in.txt', true],
    ['echo "a | b"', false],
    ["echo 'x && y'", false],
    ['git rev-parse --short HEAD', false],
  ])('usesShellFeatures(%s) = %s', (command, expected) => {
    expect(usesShellFeatures(command)).toBe(expected);
  });
});

describe('run_shell_script', () => {
  it('runs one process per line and returns stdout/stderr (stripped); later steps see them by id', async () => {
    const r = await run(`pull:
  - prefect.deployments.steps.run_shell_script:
      id: first
      script: |
        echo one
        printf '%s\\n' "two words"

        sh -c "echo to-stderr >&2"
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      id: second
      script: echo "got {{ first.stderr }}"
      stream_output: false
`);
    expect(r.error).toBeUndefined();
    expect(r.result!.outputs['first']).toEqual({ stdout: 'one\ntwo words', stderr: 'to-stderr' });
    expect(r.result!.outputs['second']).toEqual({ stdout: 'got to-stderr', stderr: '' });
    // merged flat: the last step's keys win
    expect(r.result!.outputs['stdout']).toBe('got to-stderr');
    expect(r.result!.steps.map((s) => [s.index, s.name, s.id])).toEqual([
      [0, 'prefect.deployments.steps.run_shell_script', 'first'],
      [1, 'prefect.deployments.steps.run_shell_script', 'second'],
    ]);
  });

  it('without a shell $VAR stays literal; expand_env_vars fills it from env + the step env', async () => {
    const r = await run(`pull:
  - prefect.deployments.steps.run_shell_script:
      id: literal
      script: echo $NAME
      env: { NAME: World }
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      id: expanded
      script: echo $NAME and \${GREETING}
      env: { NAME: World }
      expand_env_vars: true
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      id: child_env
      script: sh -c 'echo "$NAME $PORT"'
      env: { NAME: World, PORT: 8080 }
      stream_output: false
`);
    expect(r.error).toBeUndefined();
    expect((r.result!.outputs['literal'] as { stdout: string }).stdout).toBe('$NAME');
    expect((r.result!.outputs['expanded'] as { stdout: string }).stdout).toBe('World and hi there');
    expect((r.result!.outputs['child_env'] as { stdout: string }).stdout).toBe('World 8080');
  });

  it('pipes go through sh automatically; shell: true runs every line under sh', async () => {
    const r = await run(`pull:
  - prefect.deployments.steps.run_shell_script:
      id: piped
      script: echo abc | tr a-z A-Z
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      id: shelled
      script: echo $((40 + 2))
      shell: true
      stream_output: false
`);
    expect(r.error).toBeUndefined();
    expect((r.result!.outputs['piped'] as { stdout: string }).stdout).toBe('ABC');
    expect((r.result!.outputs['shelled'] as { stdout: string }).stdout).toBe('42');
  });

  it('a non-zero exit stops the run with the step, its line and the stderr', async () => {
    const r = await run(`pull:
  - prefect.deployments.steps.run_shell_script:
      script: |
        echo before
        sh -c "echo it broke >&2; exit 3"
        touch should-not-exist
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      script: touch nor-this
`);
    expect(isFlowsyncError(r.error, 'STEP_FAILED')).toBe(true);
    expect(r.error!.message).toMatch(/^prefect\.yaml line 2: pull step 1 'run_shell_script'/);
    expect(r.error!.message).toMatch(/exited with code 3: it broke/);
    expect(existsSync(path.join(r.cwd, 'should-not-exist'))).toBe(false);
    expect(existsSync(path.join(r.cwd, 'nor-this'))).toBe(false);
  });

  it('a missing program is NOT_FOUND naming it', async () => {
    const r = await run(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: no-such-program-xyz --flag\n`);
    expect(isFlowsyncError(r.error, 'NOT_FOUND')).toBe(true);
    expect(r.error!.message).toMatch(/Cannot run "no-such-program-xyz"/);
  });

  it('stream_output (default true) sends each line to the log; false keeps it quiet', async () => {
    const loud = await run(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: echo streamed-line\n`);
    expect(loud.logs).toContain('    streamed-line');
    const quiet = await run(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: echo streamed-line\n      stream_output: false\n`);
    expect(quiet.logs.some((l) => l.includes('streamed-line'))).toBe(false);
  });

  it('directory runs the script elsewhere; set_working_directory moves later steps and sets the result directory', async () => {
    const cwd = mkdtempSync(path.join(base, 'p-'));
    mkdirSync(path.join(cwd, 'a', 'b'), { recursive: true });
    const r = await run(
      `pull:
  - prefect.deployments.steps.run_shell_script:
      id: in_a
      script: pwd
      directory: a
      stream_output: false
  - prefect.deployments.steps.set_working_directory:
      directory: a
  - prefect.deployments.steps.run_shell_script:
      id: after
      script: pwd
      stream_output: false
  - prefect.deployments.steps.set_working_directory:
      directory: b
`,
      { cwd },
    );
    expect(r.error).toBeUndefined();
    expect((r.result!.outputs['in_a'] as { stdout: string }).stdout).toBe(path.join(cwd, 'a'));
    expect((r.result!.outputs['after'] as { stdout: string }).stdout).toBe(path.join(cwd, 'a'));
    expect(r.result!.outputs['directory']).toBe('b');
    // Prefect changes into `directory` from where the steps left off.
    expect(r.result!.directory).toBe(path.join(cwd, 'a', 'b', 'b'));
    // The host process's cwd never moved.
    expect(process.cwd()).not.toBe(path.join(cwd, 'a'));
  });

  it('set_working_directory to a missing folder is a clear error', async () => {
    const r = await run(`pull:\n  - prefect.deployments.steps.set_working_directory:\n      directory: nowhere\n`);
    expect(isFlowsyncError(r.error, 'NOT_FOUND')).toBe(true);
    expect(r.error!.message).toMatch(/pull step 1 'set_working_directory'.*not an existing directory/);
  });
});

describe('pip_install_requirements', () => {
  it('runs python -m pip install -r <file> in the directory', () => {
    expect(pipInstallArgv({}, 'requirements.txt')).toEqual([process.platform === 'win32' ? 'python' : 'python3', '-m', 'pip', 'install', '-r', 'requirements.txt']);
    expect(pipInstallArgv({ FLOWSYNC_PYTHON: '/opt/venv/bin/python' }, 'req/dev.txt')).toEqual(['/opt/venv/bin/python', '-m', 'pip', 'install', '-r', 'req/dev.txt']);
  });

  it('a missing requirements file fails with pip\'s own message', async () => {
    const r = await run(`pull:\n  - prefect.deployments.steps.pip_install_requirements:\n      requirements_file: nope.txt\n      stream_output: false\n`, {
      env: { ...process.env, PIP_NO_INDEX: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
    });
    expect(isFlowsyncError(r.error, 'STEP_FAILED')).toBe(true);
    expect(r.error!.message).toMatch(/pull step 1 'pip_install_requirements'.*-m pip install -r nope\.txt.*exited with code 1/s);
    expect(r.error!.message).toMatch(/Could not open requirements file/);
  });

  it(
    'installs a local wheel offline (PIP_TARGET keeps it out of the system site-packages)',
    async () => {
      const cwd = mkdtempSync(path.join(base, 'p-'));
      const deps = path.join(cwd, 'deps');
      mkdirSync(deps);
      // A minimal pure-Python wheel, written by Python's zipfile: no network, no build backend.
      execFileSync('python3', ['-c', WHEEL_SCRIPT, deps]);
      writeFileSync(path.join(deps, 'requirements.txt'), './flowsync_probe-0.1-py3-none-any.whl\n');
      const target = path.join(cwd, 'site');
      const r = await run(`pull:\n  - prefect.deployments.steps.pip_install_requirements:\n      id: deps\n      directory: deps\n      stream_output: false\n`, {
        cwd,
        env: { ...process.env, PIP_TARGET: target, PIP_NO_INDEX: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      });
      expect(r.error).toBeUndefined();
      expect((r.result!.outputs['deps'] as { stdout: string }).stdout).toMatch(/Successfully installed flowsync-probe-0\.1/);
      expect(existsSync(path.join(target, 'flowsync_probe', '__init__.py'))).toBe(true);
    },
    120_000,
  );
});

const WHEEL_SCRIPT = `
import base64, hashlib, os, sys, zipfile
name, ver = 'flowsync_probe', '0.1'
files = {
  f'{name}/__init__.py': b'VALUE = 42\\n',
  f'{name}-{ver}.dist-info/METADATA': f'Metadata-Version: 2.1\\nName: {name}\\nVersion: {ver}\\n'.encode(),
  f'{name}-{ver}.dist-info/WHEEL': b'Wheel-Version: 1.0\\nGenerator: flowsync-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
record = [f"{k},sha256={base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b'=').decode()},{len(v)}" for k, v in files.items()]
record.append(f'{name}-{ver}.dist-info/RECORD,,')
files[f'{name}-{ver}.dist-info/RECORD'] = ('\\n'.join(record) + '\\n').encode()
with zipfile.ZipFile(os.path.join(sys.argv[1], f'{name}-{ver}-py3-none-any.whl'), 'w') as z:
    for k, v in files.items():
        z.writestr(k, v)
`;

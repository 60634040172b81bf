/**
 * Reading prefect.yaml: sections, deployments, step shape, and the errors a user sees for a
 * broken file — each naming the step and its line. Run through runSteps where the behaviour is
 * the runner's (nothing runs before every step name is known; outputs files).
 */
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowsyncError, isFlowsyncError } from '../../src/errors.js';
import { parseSection } from '../../src/steps/parse.js';
import { runSteps } from '../../src/steps/index.js';

let base: string;
beforeAll(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'flowsync-parse-')));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): FlowsyncError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowsyncError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

const sample = `# a prefect.yaml as \`prefect init\` writes it, plus deployments
name: demo
prefect-version: 3.0.0

push:
  - prefect_aws.deployments.steps.push_to_s3:
      id: push_code
      requires: prefect-aws>=0.3.4
      bucket: my-bucket
      folder: demo

pull:
  -
  - prefect_aws.deployments.steps.pull_from_s3:
      id: pull_code
      requires: [prefect-aws>=0.3.4, boto3]
      bucket: '{{ push_code.bucket }}'
      folder: '{{ push_code.folder }}'

deployments:
  - name: etl
    entrypoint: flows/etl.py:main
    pull:
      - prefect.deployments.steps.set_working_directory:
          directory: /opt/flows
  - name: uses-top-level
    pull: []
`;

describe('parseSection', () => {
  it('reads the top-level section with ids, requires and lines', () => {
    const s = parseSection(sample, 'prefect.yaml', 'pull');
    expect(s.steps).toEqual([
      {
        index: 2,
        name: 'prefect_aws.deployments.steps.pull_from_s3',
        id: 'pull_code',
        requires: ['prefect-aws>=0.3.4', 'boto3'],
        args: { bucket: '{{ push_code.bucket }}', folder: '{{ push_code.folder }}' },
        line: 14,
      },
    ]);
    expect(parseSection(sample, 'prefect.yaml', 'push').steps[0]).toMatchObject({ index: 1, id: 'push_code', requires: ['prefect-aws>=0.3.4'], line: 6 });
  });

  it("a deployment's own non-empty section overrides the top-level one; an empty one does not", () => {
    const etl = parseSection(sample, 'prefect.yaml', 'pull', 'etl');
    expect(etl.deployment).toBe('etl');
    expect(etl.steps.map((st) => st.name)).toEqual(['prefect.deployments.steps.set_working_directory']);
    expect(etl.steps[0]!.line).toBe(24);
    expect(parseSection(sample, 'prefect.yaml', 'pull', 'uses-top-level').steps.map((st) => st.name)).toEqual(['prefect_aws.deployments.steps.pull_from_s3']);
    // no push: in the deployment → top-level push
    expect(parseSection(sample, 'prefect.yaml', 'push', 'etl').steps).toHaveLength(1);
  });

  it('an unknown deployment lists the ones there are', () => {
    const e = errorOf(() => parseSection(sample, 'prefect.yaml', 'pull', 'nope'));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(/no deployment named "nope"\. Deployments in the file: etl, uses-top-level\./);
  });

  it('a missing or empty section has no steps', () => {
    expect(parseSection('name: x\n', 'p.yaml', 'push').steps).toEqual([]);
    expect(parseSection('push:\n', 'p.yaml', 'push').steps).toEqual([]);
    expect(parseSection('', 'p.yaml', 'pull').steps).toEqual([]);
  });

  it('YAML 1.1 booleans (as PyYAML reads them), anchors and merge keys', () => {
    const yaml = `definitions:
  s3: &s3
    bucket: shared
    folder: f
pull:
  - prefect_aws.deployments.steps.pull_from_s3:
      <<: *s3
      folder: own
  - prefect.deployments.steps.git_clone:
      repository: https://h/r.git
      include_submodules: yes
`;
    const s = parseSection(yaml, 'p.yaml', 'pull');
    expect(s.steps[0]!.args).toEqual({ bucket: 'shared', folder: 'own' });
    expect(s.steps[1]!.args['include_submodules']).toBe(true);
  });

  it.each<[string, string, RegExp]>([
    ['malformed YAML (line and column)', 'pull:\n  - a.b.c:\n      x: [1, 2\n  - d: 1\n', /^prefect\.yaml line \d+, column \d+: malformed YAML: .*Fix the YAML syntax there\.$/],
    ['a tab-indented file', 'pull:\n\t- a.b.c: {}\n', /^prefect\.yaml line 2, column 1: malformed YAML/],
    ['a step with two keys (mis-indented arguments)', 'pull:\n  - prefect_aws.deployments.steps.pull_from_s3:\n    bucket: b\n', /^prefect\.yaml line 2: pull step 1 has 2 keys \(prefect_aws\.deployments\.steps\.pull_from_s3, bucket\); a step is a single key.*Check the indentation/],
    ['a step that is a plain string', 'pull:\n  - just.a.name\n', /^prefect\.yaml line 2: pull step 1 is not a mapping/],
    ['a section that is not a list', 'pull:\n  a.b.c: {}\n', /^prefect\.yaml line 2: "pull:" must be a list of steps/],
    ['arguments that are not a mapping', 'pull:\n  - a.b.c: [1, 2]\n', /^prefect\.yaml line 2: pull step 1 'a\.b\.c': its arguments must be a mapping/],
    ['a top level that is a list', '- a\n- b\n', /^prefect\.yaml: the top level is not a mapping/],
  ])('%s', (_case, yaml, message) => {
    const e = errorOf(() => parseSection(yaml, 'prefect.yaml', 'pull'));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(message);
  });
});

function project(yaml: string): string {
  const dir = mkdtempSync(path.join(base, 'p-'));
  writeFileSync(path.join(dir, 'prefect.yaml'), yaml);
  return dir;
}

async function runError(cwd: string, section: 'push' | 'pull' = 'pull', extra: object = {}): Promise<FlowsyncError> {
  const err = await runSteps({ section, cwd, ...extra }).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof FlowsyncError)) throw new Error(`expected a FlowsyncError, got ${String(err)}`);
  return err;
}

describe('runSteps: step errors', () => {
  it('an unknown step lists the supported ones, and nothing before it runs', async () => {
    const cwd = project(`pull:
  - prefect.deployments.steps.run_shell_script:
      script: touch ran-first
  - prefect_kubernetes.deployments.steps.build_job:
      image_name: x
`);
    const e = await runError(cwd);
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(/^prefect\.yaml line 4: pull step 2 'build_job': unknown step "prefect_kubernetes\.deployments\.steps\.build_job"\. flowsync runs these steps:/);
    for (const name of ['prefect_aws.deployments.steps.push_to_s3', 'prefect_gcp.deployments.steps.pull_from_gcs', 'prefect.deployments.steps.git_clone', 'prefect.deployments.steps.pip_install_requirements', 'prefect_docker.deployments.steps.build_docker_image']) {
      expect(e.message).toContain(name);
    }
    expect(existsSync(path.join(cwd, 'ran-first'))).toBe(false);
  });

  it('a missing required argument names the step, index, line and what it needs', async () => {
    const e = await runError(project(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: echo ok\n  - prefect_aws.deployments.steps.pull_from_s3:\n      folder: f\n`));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toBe(`prefect.yaml line 4: pull step 2 'pull_from_s3': missing required argument "bucket". prefect_aws.deployments.steps.pull_from_s3 needs: bucket, folder.`);
  });

  it('a required argument whose placeholder did not resolve says so', async () => {
    const e = await runError(project(`pull:\n  - prefect_aws.deployments.steps.pull_from_s3:\n      bucket: "{{ push_code.bucket }}"\n      folder: f\n`));
    expect(e.message).toMatch(/pull step 1 'pull_from_s3': "bucket" comes out empty from "\{\{ push_code\.bucket \}\}": .*pass --outputs-file FILE/);
    expect(e.code).toBe('INVALID_INPUT');
  });

  it('a required argument that is not there at all is named as missing', async () => {
    const e = await runError(project(`pull:\n  - prefect_aws.deployments.steps.pull_from_s3:\n      bucket: b\n`));
    expect(e.message).toMatch(/pull step 1 'pull_from_s3': missing required argument "folder"\./);
  });

  it('an unexpected argument lists the accepted ones', async () => {
    const e = await runError(project(`pull:\n  - prefect_aws.deployments.steps.pull_from_s3:\n      bucket: b\n      folder: f\n      ignore_file: .x\n`));
    expect(e.message).toBe(`prefect.yaml line 2: pull step 1 'pull_from_s3': unexpected argument "ignore_file". prefect_aws.deployments.steps.pull_from_s3 accepts: bucket, folder, credentials, client_parameters, switch.`);
  });

  it('a wrongly typed argument is named', async () => {
    const e = await runError(project(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: echo\n      env: [A, B]\n`));
    expect(e.message).toMatch(/pull step 1 'run_shell_script': argument "env" must be a mapping/);
  });

  it('a missing prefect.yaml says where it looked', async () => {
    const e = await runError(mkdtempSync(path.join(base, 'empty-')));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/prefect\.yaml: it does not exist\. Run in the folder that holds prefect\.yaml or pass --file/);
  });

  it('requires: naming another package is only a warning', async () => {
    const cwd = project(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      requires: [prefect>=2, my-private-lib==1.0]\n      script: echo ok\n      stream_output: false\n`);
    const warnings: string[] = [];
    const r = await runSteps({ section: 'pull', cwd, log: { info: () => {}, warn: (m) => warnings.push(m) } });
    expect(r.steps).toHaveLength(1);
    expect(warnings).toEqual([`prefect.yaml line 2: pull step 1 'run_shell_script': requires my-private-lib==1.0, which flowsync does not use (its steps are built in); ignored.`]);
  });

  it('an aborted run stops before the next step', async () => {
    const cwd = project(`pull:\n  - prefect.deployments.steps.run_shell_script:\n      script: sleep 5\n  - prefect.deployments.steps.run_shell_script:\n      script: touch second\n`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    const e = await runError(cwd, 'pull', { signal: ac.signal });
    expect(isFlowsyncError(e, 'ABORTED')).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(existsSync(path.join(cwd, 'second'))).toBe(false);
  });
});

describe('outputs files (push → pull)', () => {
  it('push writes its outputs; pull bakes them into its steps, leaving run-time placeholders', async () => {
    const cwd = project(`push:
  - prefect.deployments.steps.run_shell_script:
      id: push_code
      script: echo pushed-value
      stream_output: false
pull:
  - prefect.deployments.steps.run_shell_script:
      id: first
      script: echo "{{ push_code.stdout }}"
      stream_output: false
  - prefect.deployments.steps.run_shell_script:
      id: second
      script: echo "{{ first.stdout }}-{{ $FLOW_ENV }}"
      stream_output: false
`);
    const pushed = await runSteps({ section: 'push', cwd, outputsFile: 'out/outputs.json' });
    const file = JSON.parse(readFileSync(path.join(cwd, 'out/outputs.json'), 'utf8')) as Record<string, unknown>;
    expect(file).toEqual(pushed.outputs);
    expect(file['push_code']).toEqual({ stdout: 'pushed-value', stderr: '' });

    const pulled = await runSteps({ section: 'pull', cwd, outputsFile: 'out/outputs.json', env: { ...process.env, FLOW_ENV: 'worker' } });
    expect((pulled.outputs['first'] as { stdout: string }).stdout).toBe('pushed-value');
    // {{ first.stdout }} was left for run time and resolved from the pull's own outputs
    expect((pulled.outputs['second'] as { stdout: string }).stdout).toBe('pushed-value-worker');
    // the file's outputs were baked in, not added to the pull's outputs (as with prefect deploy)
    expect(pulled.outputs['push_code']).toBeUndefined();
  });

  it('pull without the outputs file it was told to read is a clear error', async () => {
    const e = await runError(project('pull: []\n'), 'pull', { outputsFile: 'missing.json' });
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/Run "flowsync steps run push --outputs-file .*missing\.json" first/);
  });
});

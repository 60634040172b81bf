/**
 * prefect.yaml's prefect_docker build/push steps without a daemon, against docker-registry:
 * Prefect's docker recipe (dockerfile: auto on a named base), a Dockerfile of the supported
 * instructions with a .dockerignore, build and push in separate commands through the local OCI
 * layout, Prefect's outputs (image_id = the config digest skopeo reports), a RUN line refused
 * when no usable engine is on PATH, and an unknown build kwarg reported.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { makeBaseImage, registryToolsMissing, skopeoInspect, startRegistry, unpackImage, type RegistryServer } from '../servers/registry.js';

const missing = registryToolsMissing();

describe.skipIf(missing !== null)('prefect_docker steps (docker-registry)', () => {
  let reg: RegistryServer;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    requireBuiltCli();
    reg = await startRegistry();
    await makeBaseImage(reg, 'base/py:1');
    work = tempDir('docker-steps');
    env = cliEnv(path.join(work, 'cache'), { HOME: work, REG: reg.host });
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(work);
  });

  function project(name: string, files: Record<string, string>): string {
    const dir = path.join(work, name);
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content, { mode: rel.endsWith('.sh') ? 0o755 : 0o644 });
    }
    return dir;
  }
  const configDigest = (ref: string) => `sha256:${createHash('sha256').update(JSON.stringify(skopeoInspect(ref, true, ['--config']))).digest('hex')}`;
  const rawManifest = (ref: string) => skopeoInspect(ref, true) as { config: { digest: string } };

  it("Prefect's docker recipe (dockerfile: auto): steps run push builds then pushes; outputs as Prefect's", async () => {
    const dir = project('etl', {
      'prefect.yaml': `build:
- prefect_docker.deployments.steps.build_docker_image:
    id: build_image
    requires: prefect-docker>=0.3.1
    image_name: "{{ $REG }}/flows/etl"
    tag: v1
    dockerfile: auto
    base_image: "{{ $REG }}/base/py:1"
push:
- prefect_docker.deployments.steps.push_docker_image:
    requires: prefect-docker>=0.3.1
    image_name: "{{ build_image.image_name }}"
    tag: "{{ build_image.tag }}"
    additional_tags: [latest]
`,
      'flows/etl.py': 'print("etl")\n',
      'bin/run.sh': '#!/bin/sh\nexec python -m flows.etl\n',
      '.dockerignore': '*.log\n',
      'debug.log': 'not in the image\n',
    });
    const r = await runCli(['steps', 'run', 'push', '--json'], { env, cwd: dir });
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const outputs = JSON.parse(r.stdout).outputs as Record<string, unknown>;
    const ref = `${reg.host}/flows/etl:v1`;
    expect(outputs.build_image).toEqual({ image_name: `${reg.host}/flows/etl`, tag: 'v1', image: ref, image_id: rawManifest(ref).config.digest, additional_tags: [] });
    expect(outputs.image).toBe(ref);
    expect(outputs.additional_tags).toEqual(['latest']);
    expect(configDigest(ref)).toBe(outputs.image_id);
    expect((skopeoInspect(`${reg.host}/flows/etl:latest`) as { Digest: string }).Digest).toBe((skopeoInspect(ref) as { Digest: string }).Digest);
    const config = skopeoInspect(ref, false, ['--config']) as { config: { WorkingDir: string } };
    expect(config.config.WorkingDir).toBe('/opt/prefect/etl');
    const rootfs = unpackImage(ref, fs.mkdtempSync(path.join(work, 'unpack-')));
    expect(fs.readFileSync(path.join(rootfs, 'opt/prefect/etl/flows/etl.py'), 'utf8')).toBe('print("etl")\n');
    expect(fs.statSync(path.join(rootfs, 'opt/prefect/etl/bin/run.sh')).mode & 0o111).not.toBe(0);
    expect(fs.existsSync(path.join(rootfs, 'opt/prefect/etl/debug.log'))).toBe(false);
    expect(fs.readFileSync(path.join(rootfs, 'etc/os-release'), 'utf8')).toBe('ID=flowsync-test\n');
    // What auto built carries flowsync's labels: image pull gives the tree back, verified.
    const pulled = path.join(work, 'etl-pulled');
    const p = await runCli(['image', 'pull', ref, pulled], { env });
    expect(p.code).toBe(0);
    expect(fs.readFileSync(path.join(pulled, 'flows/etl.py'), 'utf8')).toBe('print("etl")\n');
  });

  it('a Dockerfile of the supported instructions, built and pushed in separate commands', async () => {
    const dir = project('df', {
      Dockerfile: `# a comment
ARG BASE=nothing
FROM \${BASE}
ARG VERSION=0.1
ENV APP_HOME=/srv/app \\
    FLOW_VERSION=\${VERSION}
LABEL org.example.team="data eng" version=\${VERSION}
WORKDIR \${APP_HOME}
COPY flows/ ./flows/
COPY bin/run.sh /usr/local/bin/run-flow
ADD requirements.txt .
USER 1000
EXPOSE 8080 9090/udp
ENTRYPOINT ["python"]
CMD ["-m", "flows.etl"]
`,
      '.dockerignore': 'flows/**/*.pyc\n!flows/keep.pyc\nsecret.txt\n',
      'flows/etl.py': 'print(1)\n',
      'flows/sub/x.pyc': 'compiled',
      'flows/keep.pyc': 'kept by the exception',
      'bin/run.sh': '#!/bin/sh\n',
      'requirements.txt': 'requests\n',
      'secret.txt': 'never copied',
      'build.yaml': `build:
- prefect_docker.deployments.steps.build_docker_image:
    id: img
    image_name: "{{ $REG }}/flows/df"
    tag: "1"
    buildargs: {BASE: "{{ $REG }}/base/py:1", VERSION: "2.0"}
`,
      'push.yaml': `push:
- prefect_docker.deployments.steps.push_docker_image:
    image_name: "{{ $REG }}/flows/df"
    tag: "1"
`,
    });
    const b = await runCli(['steps', 'run', 'build', '--file', 'build.yaml', '--json'], { env, cwd: dir });
    expect(b.stderr).not.toMatch(/error/i);
    expect(b.code).toBe(0);
    const imageId = (JSON.parse(b.stdout).outputs as { image_id: string }).image_id;
    const p = await runCli(['steps', 'run', 'push', '--file', 'push.yaml', '--json'], { env, cwd: dir });
    expect(p.code).toBe(0);
    const ref = `${reg.host}/flows/df:1`;
    expect(rawManifest(ref).config.digest).toBe(imageId);
    const c = (skopeoInspect(ref, false, ['--config']) as { config: Record<string, unknown> }).config;
    expect(c.Env).toEqual(expect.arrayContaining(['APP_HOME=/srv/app', 'FLOW_VERSION=2.0']));
    expect(c.Labels).toMatchObject({ 'org.example.team': 'data eng', version: '2.0' });
    expect(c.WorkingDir).toBe('/srv/app');
    expect(c.User).toBe('1000');
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '9090/udp': {} });
    expect(c.Entrypoint).toEqual(['python']);
    expect(c.Cmd).toEqual(['-m', 'flows.etl']);
    const rootfs = unpackImage(ref, fs.mkdtempSync(path.join(work, 'unpack-')));
    expect(fs.readFileSync(path.join(rootfs, 'srv/app/flows/etl.py'), 'utf8')).toBe('print(1)\n');
    expect(fs.existsSync(path.join(rootfs, 'srv/app/flows/sub/x.pyc'))).toBe(false);
    expect(fs.readFileSync(path.join(rootfs, 'srv/app/flows/keep.pyc'), 'utf8')).toBe('kept by the exception');
    expect(fs.statSync(path.join(rootfs, 'usr/local/bin/run-flow')).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(path.join(rootfs, 'srv/app/requirements.txt'), 'utf8')).toBe('requests\n');
    expect(fs.existsSync(path.join(rootfs, 'srv/app/secret.txt'))).toBe(false);
  });

  it('a RUN line without a usable engine is refused naming the line and the way out', async () => {
    const dir = project('run', {
      Dockerfile: `FROM ${reg.host}/base/py:1\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n`,
      'requirements.txt': 'requests\n',
      'prefect.yaml': `build:\n- prefect_docker.deployments.steps.build_docker_image:\n    image_name: "{{ $REG }}/flows/run"\n    tag: "1"\n`,
    });
    // A docker client without a daemon, and nothing else: the engine is not usable.
    const bin = path.join(work, 'fake-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon" >&2\nexit 1\n', { mode: 0o755 });
    const r = await runCli(['steps', 'run', 'build'], { env: { ...env, PATH: `${bin}:/bin` }, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile line 3: "RUN pip install -r \/app\/requirements.txt" — RUN needs a container engine/);
    expect(r.stderr).toMatch(/docker is on PATH but its daemon does not answer/);
    expect(r.stderr).toMatch(/Bake what it installs into the base image/);
  });

  it('an unknown build kwarg is reported, not dropped', async () => {
    const dir = project('kw', {
      'prefect.yaml': `build:\n- prefect_docker.deployments.steps.build_docker_image:\n    image_name: "{{ $REG }}/flows/kw"\n    dockerfile: auto\n    base_image: "{{ $REG }}/base/py:1"\n    network_mode: host\n`,
    });
    const r = await runCli(['steps', 'run', 'build'], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unexpected argument "network_mode"/);
  });
});

/**
 * Registry access against docker-registry with htpasswd Basic auth behind TLS (a self-signed
 * certificate for 127.0.0.1, trusted through NODE_EXTRA_CA_CERTS): credentials from Docker's
 * config.json (`auths`, a `credHelpers` program on PATH) and from FLOWSYNC_REGISTRY_*; wrong or
 * missing ones refused in one line; an untrusted certificate named; the password never printed.
 * Bearer tokens: the same registry with auth.token, its tokens issued by a token service in the
 * test (ES256 JWTs the registry verifies against the certificate it is given).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, removeDir, requireBuiltCli, runCli, tempDir } from '../e2e/support.js';
import { makeBaseImage, registryToolsMissing, startRegistry, type RegistryServer } from '../servers/registry.js';

const missing = registryToolsMissing();
const USER = 'flow';
const PASSWORD = 'S3cret-registry-pw!';

describe.skipIf(missing !== null)('registry credentials and TLS (docker-registry, htpasswd, https)', () => {
  let reg: RegistryServer;
  let work: string;
  let project: string;

  beforeAll(async () => {
    requireBuiltCli();
    reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD }, tls: true });
    await makeBaseImage(reg, 'base/os:1', { creds: `${USER}:${PASSWORD}` });
    work = tempDir('image-auth');
    project = path.join(work, 'proj');
    fs.mkdirSync(path.join(project, 'flows'), { recursive: true });
    fs.writeFileSync(path.join(project, 'flows', 'etl.py'), 'print("etl")\n');
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(work);
  });

  /** A HOME with its own Docker config (or none) and the registry's CA trusted. */
  function envWith(name: string, dockerConfig: object | null, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const home = path.join(work, `home-${name}`);
    fs.mkdirSync(path.join(home, '.docker'), { recursive: true });
    if (dockerConfig) fs.writeFileSync(path.join(home, '.docker', 'config.json'), JSON.stringify(dockerConfig));
    const env = cliEnv(path.join(work, `cache-${name}`), { HOME: home, NODE_EXTRA_CA_CERTS: reg.caFile! });
    delete env.DOCKER_CONFIG;
    delete env.FLOWSYNC_REGISTRY_USERNAME;
    delete env.FLOWSYNC_REGISTRY_PASSWORD;
    return { ...env, ...extra };
  }
  const push = (env: NodeJS.ProcessEnv, tag: string) => runCli(['image', 'push', project, `${reg.host}/flows/etl:${tag}`, '--base', `${reg.host}/base/os:1`, '--json'], { env });
  const auth = (user: string, pw: string) => Buffer.from(`${user}:${pw}`).toString('base64');
  const noSecret = (r: { stdout: string; stderr: string }) => {
    for (const s of [PASSWORD, auth(USER, PASSWORD), 'wrong-password-123', auth(USER, 'wrong-password-123')]) {
      expect(r.stdout + r.stderr).not.toContain(s);
    }
  };

  it('no credentials: refused in one line naming docker login and the variables', async () => {
    const r = await push(envWith('none', null), 'none');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/needs credentials.*docker login 127\.0\.0\.1:\d+.*FLOWSYNC_REGISTRY_USERNAME/);
  });

  it('config.json auths: pushes over HTTPS with the CA from NODE_EXTRA_CA_CERTS', async () => {
    const r = await push(envWith('auths', { auths: { [reg.host]: { auth: auth(USER, PASSWORD) } } }), 'auths');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).image).toBe(`${reg.host}/flows/etl:auths`);
    noSecret(r);
  });

  it('wrong password: refused naming the user and where the credentials came from, never the password', async () => {
    const r = await push(envWith('wrong', { auths: { [`https://${reg.host}`]: { auth: auth(USER, 'wrong-password-123') } } }), 'wrong');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refused the credentials of user "${USER}" \\(from .*config\\.json\\)`));
    noSecret(r);
  });

  it('a credHelpers program on PATH answers for the registry', async () => {
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const helper = path.join(bin, 'docker-credential-flowsynctest');
    // The helper protocol: `get`, the server on stdin, JSON on stdout.
    fs.writeFileSync(helper, `#!/bin/sh\nread server\necho "$server" > "${path.join(work, 'helper-asked')}"\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`, { mode: 0o755 });
    const env = envWith('helper', { credHelpers: { [reg.host]: 'flowsynctest' } }, { PATH: `${bin}:${process.env.PATH}` });
    const r = await push(env, 'helper');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(work, 'helper-asked'), 'utf8').trim()).toBe(reg.host);
    noSecret(r);
  });

  it('FLOWSYNC_REGISTRY_USERNAME/PASSWORD work without any Docker config', async () => {
    const r = await push(envWith('env', null, { FLOWSYNC_REGISTRY_USERNAME: USER, FLOWSYNC_REGISTRY_PASSWORD: PASSWORD }), 'env');
    expect(r.code).toBe(0);
    noSecret(r);
  });

  it('an untrusted certificate is named, with the way out', async () => {
    const env = envWith('untrusted', null, { FLOWSYNC_REGISTRY_USERNAME: USER, FLOWSYNC_REGISTRY_PASSWORD: PASSWORD });
    delete env.NODE_EXTRA_CA_CERTS;
    const r = await push(env, 'untrusted');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TLS certificate of 127\.0\.0\.1:\d+ is not trusted .*NODE_EXTRA_CA_CERTS/);
  });
});

describe.skipIf(missing !== null)('registry Bearer-token auth (docker-registry auth.token)', () => {
  let reg: RegistryServer;
  let work: string;
  let project: string;
  beforeAll(async () => {
    requireBuiltCli();
    reg = await startRegistry({ token: { user: USER, password: PASSWORD } });
    await makeBaseImage(reg, 'base/os:1', { creds: `${USER}:${PASSWORD}` });
    work = tempDir('image-token');
    project = path.join(work, 'proj');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, 'flow.py'), 'print(1)\n');
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(work);
  });
  const env = (user: string, pw: string) => cliEnv(path.join(work, 'cache'), { HOME: work, FLOWSYNC_REGISTRY_USERNAME: user, FLOWSYNC_REGISTRY_PASSWORD: pw });

  it('fetches a token from the realm with the credentials, pushes (base mounted) and pulls back', async () => {
    const r = await runCli(['image', 'push', project, `${reg.host}/flows/tok:1`, '--base', `${reg.host}/base/os:1`, '--json'], { env: env(USER, PASSWORD) });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).mounted).toBe(1);
    const p = await runCli(['image', 'pull', `${reg.host}/flows/tok:1`, path.join(work, 'pulled')], { env: env(USER, PASSWORD) });
    expect(p.code).toBe(0);
    expect(fs.readFileSync(path.join(work, 'pulled', 'flow.py'), 'utf8')).toBe('print(1)\n');
    expect(r.stdout + r.stderr + p.stdout + p.stderr).not.toContain(PASSWORD);
  });

  it('the token service refusing the credentials is one clear line', async () => {
    const r = await runCli(['image', 'push', project, `${reg.host}/flows/tok:2`, '--base', `${reg.host}/base/os:1`], { env: env(USER, 'wrong-password-123') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/refused the credentials of user "flow" \(from FLOWSYNC_REGISTRY_USERNAME\/PASSWORD\)/);
    expect(r.stderr).not.toContain('wrong-password-123');
  });
});

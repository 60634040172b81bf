/**
 * Debian's docker-registry (the CNCF distribution registry 2.8) on 127.0.0.1 for tests:
 * filesystem storage in a temp folder, port 0 (it logs the port it got), stopped by PID.
 * Options: htpasswd Basic auth (bcrypt from python3's crypt, or htpasswd when installed) and
 * TLS with a self-signed certificate for IP:127.0.0.1 (trust it with NODE_EXTRA_CA_CERTS).
 * Its access log is kept: `requests()` lists method and path of every request it answered, an
 * oracle independent of the client's own counts.
 *
 * `registryToolsMissing()` names what is not installed (docker-registry, skopeo, umoci), so a
 * test can say why it cannot run (.ci/run installs them).
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export interface RegistryServer {
  /** host:port */
  host: string;
  port: number;
  pid: number;
  /** PEM file of the self-signed certificate (TLS instances). */
  caFile?: string;
  requests(): Array<{ method: string; path: string; status: number }>;
  /** Wait until the registry's log has caught up with every request answered so far. */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

export interface RegistryServerOptions {
  htpasswd?: { user: string; password: string };
  /** Token auth: a token server in this process issues ES256 JWTs (x5c) the registry verifies. */
  token?: { user: string; password: string };
  tls?: boolean;
}

export function registryToolsMissing(): string | null {
  const missing = ['docker-registry', 'skopeo', 'umoci'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length === 0) return null;
  const why = `${missing.join(', ')} not installed (apt-get install docker-registry skopeo umoci; .ci/run does it)`;
  process.stderr.write(`image tests cannot run here: ${why}\n`);
  return why;
}

/** The registry checks the bcrypt hash on every request: cost 4 (the minimum) keeps that cheap in tests. */
function bcrypt(password: string): string {
  const py = spawnSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8' });
  const out = py.stdout?.trim() ?? '';
  if (py.status === 0 && out.startsWith('$2')) return out;
  const ht = spawnSync('htpasswd', ['-nbB', '-C', '4', 'u', password], { encoding: 'utf8' });
  if (ht.status === 0) return ht.stdout.trim().split(':')[1]!;
  throw new Error('Cannot make a bcrypt hash for the registry htpasswd file: python3 crypt and htpasswd (apache2-utils) are both missing.');
}

const execFileAsync = promisify(execFile);
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startRegistry(o: RegistryServerOptions = {}): Promise<RegistryServer> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-registry-'));
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(path.join(work, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    '  addr: 127.0.0.1:0',
    '  secret: flowsync-test-secret',
  ];
  let caFile: string | undefined;
  if (o.tls) {
    caFile = path.join(work, 'cert.pem');
    const keyFile = path.join(work, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    lines.push('  tls:', `    certificate: ${JSON.stringify(caFile)}`, `    key: ${JSON.stringify(keyFile)}`);
  }
  if (o.htpasswd) {
    fs.writeFileSync(path.join(work, 'htpasswd'), `${o.htpasswd.user}:${bcrypt(o.htpasswd.password)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: flowsync-test', `    path: ${JSON.stringify(path.join(work, 'htpasswd'))}`);
  }
  let tokenServer: http.Server | undefined;
  if (o.token) {
    const t = await startTokenServer(work, o.token);
    tokenServer = t.server;
    lines.push('auth:', '  token:', `    realm: http://127.0.0.1:${t.port}/token`, '    service: flowsync-test', '    issuer: flowsync-test-issuer', `    rootcertbundle: ${JSON.stringify(t.certFile)}`);
  }
  fs.writeFileSync(path.join(work, 'config.yml'), lines.join('\n') + '\n');
  const child = spawn('docker-registry', ['serve', path.join(work, 'config.yml')], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`docker-registry did not start within 15 s: ${log.slice(-1500)}`)), 15_000);
    const onData = (c: Buffer) => {
      log += c.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`docker-registry exited (code ${code}) before listening: ${log.slice(-1500)}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    running.delete(child);
    if (tokenServer) await new Promise<void>((r) => tokenServer!.close(() => r()));
    fs.rmSync(work, { recursive: true, force: true });
  };
  return {
    host: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    ...(caFile ? { caFile } : {}),
    requests() {
      const out: Array<{ method: string; path: string; status: number }> = [];
      for (const line of log.split('\n')) {
        if (!line.includes('response completed')) continue;
        const method = /http\.request\.method=(\w+)/.exec(line)?.[1];
        const m = /http\.request\.uri=(?:"([^"]*)"|(\S+))/.exec(line);
        const uri = m?.[1] ?? m?.[2];
        const status = Number(/http\.response\.status=(\d+)/.exec(line)?.[1]);
        if (method && uri) out.push({ method, path: uri.split('?')[0]!, status });
      }
      return out;
    },
    async sync() {
      // A request of our own, marked; once its log line is in, every earlier line is too.
      const mark = `flowsync-sync-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const proto = caFile ? 'https' : 'http';
      await fetchIgnoringTls(`${proto}://127.0.0.1:${port}/v2/${mark}/tags/list`);
      const deadline = Date.now() + 5000;
      while (!log.includes(mark)) {
        if (Date.now() > deadline) throw new Error('the registry log did not show the sync request within 5 s');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
  };
}

function fetchIgnoringTls(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https') ? https : http;
    mod.get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    }).on('error', reject);
  });
}

/**
 * A base image made from scratch with umoci (a few files, one executable, a folder) and put in
 * the registry with skopeo. `format: 'v2s2'` stores it with Docker media types.
 */
export async function makeBaseImage(registry: RegistryServer, ref: string, o: { format?: 'oci' | 'v2s2'; workdir?: string; files?: Record<string, string>; creds?: string; arch?: string } = {}): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flowsync-base-'));
  try {
    const layout = path.join(work, 'layout');
    const bundle = path.join(work, 'bundle');
    const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: work });
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:base`]);
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    const files = o.files ?? { 'etc/os-release': 'ID=flowsync-test\n', 'usr/bin/hello': '#!/bin/sh\necho hello\n', 'opt/prefect/README': 'from the base\n' };
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(rootfs, rel)), { recursive: true });
      fs.writeFileSync(path.join(rootfs, rel), content, { mode: rel.includes('bin/') ? 0o755 : 0o644 });
    }
    run('umoci', ['repack', '--image', `${layout}:base`, bundle]);
    run('umoci', ['config', '--image', `${layout}:base`, '--config.env', 'PATH=/usr/local/bin:/usr/bin:/bin', '--config.cmd', '/bin/sh', ...(o.workdir ? ['--config.workingdir', o.workdir] : []), ...(o.arch ? ['--architecture', o.arch] : [])]);
    // Not a sync call: a token server in this process must be able to answer skopeo.
    await execFileAsync('skopeo', ['copy', '--insecure-policy', '--dest-tls-verify=false', ...(o.creds ? ['--dest-creds', o.creds] : []), ...(o.format === 'v2s2' ? ['--format', 'v2s2'] : []), `oci:${layout}:base`, `docker://${registry.host}/${ref}`]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** `skopeo inspect` of an image (its config summary as JSON). */
export function skopeoInspect(ref: string, raw = false, extra: string[] = []): unknown {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', ...(raw ? ['--raw'] : []), ...extra, `docker://${ref}`], { encoding: 'utf8' });
  return JSON.parse(out);
}

/** Copy an image to an OCI layout with skopeo and unpack it with umoci: the image's root file system. */
export function unpackImage(ref: string, into: string): string {
  const layout = path.join(into, 'layout');
  const bundle = path.join(into, 'bundle');
  execFileSync('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`], { stdio: 'ignore' });
  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:img`, bundle], { stdio: 'ignore' });
  return path.join(bundle, 'rootfs');
}

/**
 * The distribution spec's token service, for a registry configured with auth.token: GET /token
 * with Basic credentials answers {token} — an ES256 JWT with the certificate in x5c (the registry
 * trusts it through rootcertbundle), granting every scope asked for. Wrong or missing
 * credentials get 401. Requests are counted (never the credentials).
 */
async function startTokenServer(work: string, creds: { user: string; password: string }): Promise<{ server: http.Server; port: number; certFile: string }> {
  const keyFile = path.join(work, 'token-key.pem');
  const certFile = path.join(work, 'token-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=flowsync-token'], { stdio: 'ignore' });
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const der = new crypto.X509Certificate(fs.readFileSync(certFile)).raw.toString('base64');
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
    if (given !== `${creds.user}:${creds.password}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"bad credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      return { type, name: rest.join(':'), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [der] }));
    const claims = b64url(JSON.stringify({ iss: 'flowsync-test-issuer', sub: creds.user, aud: url.searchParams.get('service'), exp: now + 600, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access }));
    const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: 600 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, certFile };
}

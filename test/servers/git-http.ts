/**
 * A git server for tests: `git http-backend` (CGI) behind a Node https server with Basic auth,
 * on 127.0.0.1 with a self-signed certificate made by openssl for IP:127.0.0.1 (trust it with
 * GIT_SSL_CAINFO=<caFile>). Prefect puts credentials only into https URLs, so https it is.
 *
 * Auth: a request is let in when its Basic password is the token, or its user name is the token
 * with an empty password (how a bare `https://<token>@host` URL authenticates). Everything
 * else gets 401 with a Basic challenge. Every request is recorded (path, user, whether it
 * carried a valid credential), never the credential itself.
 *
 * Repository helpers build bare repositories in the served folder with plain local git.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface GitHttpRequest {
  method: string;
  path: string;
  user: string | null;
  authorized: boolean;
}

export interface GitHttpServer {
  /** https://127.0.0.1:<port> — repositories live at <url>/<name>.git */
  url: string;
  port: number;
  /** The folder of bare repositories. */
  root: string;
  /** PEM of the self-signed certificate (for GIT_SSL_CAINFO). */
  caFile: string;
  /** Environment for git clients: trust the certificate, never prompt, no user/system config. */
  env: Record<string, string>;
  requests: GitHttpRequest[];
  stop(): Promise<void>;
}

export interface StartGitHttpOptions {
  token: string;
}

/** Environment for the helpers' own git commands: no user/system config, fixed identity. */
export function plainGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: os.tmpdir(),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = plainGitEnv()): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export async function startGitHttp(o: StartGitHttpOptions): Promise<GitHttpServer> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'flowsync-git-http-'));
  const root = path.join(base, 'repos');
  mkdirSync(root);
  const keyFile = path.join(base, 'key.pem');
  const caFile = path.join(base, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });

  const requests: GitHttpRequest[] = [];
  const server = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const { user, pass } = basicCredentials(req.headers.authorization);
    const authorized = user !== null && (pass === o.token || (user === o.token && pass === ''));
    requests.push({ method: req.method ?? '', path: url.pathname, user: authorized ? user : null, authorized });
    if (!authorized) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
      res.end('Authentication required\n');
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_USER: user ?? '',
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => undefined);
    relayCgi(cgi.stdout, res);
    cgi.stderr.resume();
    cgi.on('error', () => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    root,
    caFile,
    env: { GIT_SSL_CAINFO: caFile, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(base, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

function basicCredentials(header: string | undefined): { user: string | null; pass: string | null } {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!m) return { user: null, pass: null };
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? { user: decoded, pass: '' } : { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

/** Parse the CGI header block ("Status: 200 OK", headers, blank line) and stream the body. */
function relayCgi(out: NodeJS.ReadableStream, res: import('node:http').ServerResponse): void {
  let head = Buffer.alloc(0);
  let done = false;
  out.on('data', (chunk: Buffer) => {
    if (done) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
    if (end < 0) return;
    done = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end));
  });
  out.on('end', () => {
    if (!done) res.writeHead(502);
    res.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Repositories

/** Create (or add a commit to) bare repo `<root>/<name>.git` with these files on `branch`. */
export function commitFiles(root: string, name: string, files: Record<string, string>, o: { branch?: string; message?: string } = {}): string {
  const bare = path.join(root, `${name}.git`);
  const branch = o.branch ?? 'main';
  const work = mkdtempSync(path.join(os.tmpdir(), 'flowsync-git-work-'));
  try {
    try {
      execFileSync('git', ['rev-parse', '--git-dir'], { cwd: bare, env: plainGitEnv(), stdio: 'ignore' });
    } catch {
      mkdirSync(bare, { recursive: true });
      git(bare, ['init', '--quiet', '--bare', '--initial-branch', branch]);
    }
    git(work, ['init', '--quiet', '--initial-branch', branch]);
    git(work, ['remote', 'add', 'origin', bare]);
    const has = (() => {
      try {
        git(work, ['fetch', '--quiet', 'origin', branch]);
        return true;
      } catch {
        return false;
      }
    })();
    if (has) git(work, ['checkout', '--quiet', '-B', branch, 'FETCH_HEAD']);
    for (const [rel, content] of Object.entries(files)) {
      const full = path.join(work, rel);
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
    git(work, ['add', '-A']);
    git(work, ['commit', '--quiet', '--allow-empty', '-m', o.message ?? `update ${Object.keys(files).join(', ')}`]);
    git(work, ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
    return git(work, ['rev-parse', 'HEAD']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Commit a submodule entry into `<name>.git`: gitlink at `at` pointing to `commit` of the
 * submodule, `.gitmodules` naming `url` (an https URL on this server).
 */
export function commitSubmodule(root: string, name: string, at: string, url: string, commit: string, branch = 'main'): string {
  const bare = path.join(root, `${name}.git`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'flowsync-git-work-'));
  try {
    git(work, ['init', '--quiet', '--initial-branch', branch]);
    git(work, ['remote', 'add', 'origin', bare]);
    git(work, ['fetch', '--quiet', 'origin', branch]);
    git(work, ['checkout', '--quiet', '-B', branch, 'FETCH_HEAD']);
    writeFileSync(path.join(work, '.gitmodules'), `[submodule "${at}"]\n\tpath = ${at}\n\turl = ${url}\n`);
    git(work, ['update-index', '--add', '--cacheinfo', `160000,${commit},${at}`]);
    git(work, ['add', '.gitmodules']);
    git(work, ['commit', '--quiet', '-m', `add submodule ${at}`]);
    git(work, ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
    return git(work, ['rev-parse', 'HEAD']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Credentials for git over https, formatted exactly as Prefect formats them for the clone URL
 * (so the same token works against the same host), but delivered differently: as an
 * `Authorization: Basic` header scoped to the repository's host, through git's
 * GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n environment variables. The token is
 * therefore never in a URL, in `.git/config`, in git's argv (the process list) or in git's
 * messages; every form of it is registered as a secret for scrubbing as well.
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';

export interface GitCredentialFields {
  username?: unknown;
  password?: unknown;
  token?: unknown;
  access_token?: unknown;
  [other: string]: unknown;
}

const text = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));

/**
 * Prefect's token formatting for a host (`netloc`): a username gives `user:token`; Bitbucket
 * Server needs `user:pass` already; Bitbucket gets `x-token-auth:`; GitLab gets `oauth2:` unless
 * the token is already prefixed or already `user:token`; every other host the bare token.
 */
export function formatGitCredential(netloc: string, creds: GitCredentialFields, label: string): string {
  const username = text(creds.username);
  const secret = text(creds.access_token) ?? text(creds.token) ?? text(creds.password);
  if (!secret) {
    throw new FlowsyncError('INVALID_INPUT', `${label}: the credentials have no access_token, token or password. Put the token in one of those fields (or use access_token: instead of credentials:).`);
  }
  registerSecret(secret);
  if (username) return `${username}:${secret}`;
  if (netloc.includes('bitbucketserver')) {
    if (!secret.includes(':')) {
      throw new FlowsyncError('INVALID_INPUT', `${label}: Bitbucket Server needs a username with the token: set "username" in the credentials, or give the token as "username:token".`);
    }
    return secret;
  }
  if (netloc.includes('bitbucket')) return secret.startsWith('x-token-auth:') || secret.includes(':') ? secret : `x-token-auth:${secret}`;
  if (netloc.includes('gitlab')) return secret.startsWith('oauth2:') || secret.includes(':') ? secret : `oauth2:${secret}`;
  return secret;
}

/** The `Authorization` header value git sends for a formatted `user:token` (or bare token). */
export function basicAuthHeader(formatted: string): string {
  // A bare token in a URL (`https://<token>@host`) is the user name with an empty password.
  const pair = formatted.includes(':') ? formatted : `${formatted}:`;
  const encoded = Buffer.from(pair, 'utf8').toString('base64');
  registerSecret(formatted);
  registerSecret(encoded);
  return `Basic ${encoded}`;
}

/** `https://host:port/` — the scope of the auth header: the repository's host, all its paths. */
export function authScope(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}/`;
}

/**
 * Environment for a git process that carries extra `-c key=value` settings without argv,
 * appended after any the caller's environment already holds.
 */
export function gitConfigEnv(base: NodeJS.ProcessEnv, settings: Array<[key: string, value: string]>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const existing = Number.parseInt(base['GIT_CONFIG_COUNT'] ?? '0', 10);
  let n = Number.isFinite(existing) && existing > 0 ? existing : 0;
  for (const [key, value] of settings) {
    env[`GIT_CONFIG_KEY_${n}`] = key;
    env[`GIT_CONFIG_VALUE_${n}`] = value;
    n++;
  }
  if (n > 0) env['GIT_CONFIG_COUNT'] = String(n);
  return env;
}

/** Settings that authenticate every request to the repository's host (submodules there too). */
export function authSettings(repositoryUrl: string, formatted: string): Array<[string, string]> {
  return [
    [`http.${authScope(repositoryUrl)}.extraHeader`, `Authorization: ${basicAuthHeader(formatted)}`],
    // If the host rejects the header, fail instead of asking (or poisoning) a stored credential helper.
    ['credential.helper', ''],
  ];
}

/** Split `https://user:pass@host/path` into the clean URL and the credentials it carried. */
export function splitUrlCredentials(url: string): { url: string; creds?: GitCredentialFields } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (!u.username && !u.password) return { url };
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  registerSecret(password);
  if (!password) registerSecret(username);
  u.username = '';
  u.password = '';
  return { url: u.toString(), creds: password ? { username, password } : { access_token: username } };
}

/** Any `scheme://user:pass@` inside a text, with the user info replaced by ***. */
export function stripUrlAuth(textIn: string): string {
  return textIn.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, '$1***@');
}

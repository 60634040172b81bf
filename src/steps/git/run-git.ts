/**
 * Run git for a step: never interactive, every message scrubbed (registered secrets and any
 * `user:pass@` in URLs), and a failure turned into an error whose code and hint come from what
 * git said (rejected credentials, missing repository or branch, TLS, network).
 */
import { FlowsyncError, type ErrorCode } from '../../errors.js';
import { scrubSecrets } from '../../secrets.js';
import { runProcess } from '../process.js';
import { stripUrlAuth } from './auth.js';

export interface GitRunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  label: string;
  /** Whether credentials were sent (words the hint when the server says no). */
  withCredentials?: boolean;
}

export class GitFailure extends FlowsyncError {
  /** Whether trying the same command again could help (network trouble, not a bad token). */
  readonly worthRetrying: boolean;
  constructor(code: ErrorCode, message: string, worthRetrying: boolean, cause?: unknown) {
    super(code, message, { cause });
    this.worthRetrying = worthRetrying;
  }
}

export function scrubGitText(text: string): string {
  return scrubSecrets(stripUrlAuth(text));
}

/** Runs `git <args>`; resolves with stdout, or rejects with a GitFailure. */
export async function runGit(args: string[], o: GitRunOptions): Promise<string> {
  const r = await runProcess(['git', ...args], { cwd: o.cwd, env: o.env, signal: o.signal });
  if (r.code === 0) return r.stdout;
  const said = scrubGitText(r.stderr.trim() || r.stdout.trim()) || '(no output)';
  const { code, hint, retry } = classify(said, o.withCredentials ?? false);
  // The subcommand and its flags are safe to show: git's argv never carries a credential.
  const command = scrubGitText(`git ${args.join(' ')}`);
  throw new GitFailure(code, `${o.label}: \`${command}\` failed (exit ${r.code ?? r.killedBy}): ${lastLines(said)}${hint ? ` — ${hint}` : ''}`, retry);
}

/** Runs git and reports only whether it exited 0 (for probes such as "is this commit here?"). */
export async function gitSucceeds(args: string[], o: Omit<GitRunOptions, 'label'>): Promise<boolean> {
  const r = await runProcess(['git', ...args], { cwd: o.cwd, env: o.env, signal: o.signal });
  return r.code === 0;
}

function lastLines(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-6).join(' | ');
}

function classify(said: string, withCredentials: boolean): { code: ErrorCode; hint?: string; retry: boolean } {
  if (/Authentication failed|Access denied|could not read (Username|Password)|returned error: 401|Invalid username or password|terminal prompts disabled/i.test(said)) {
    const hint = withCredentials
      ? 'The server rejected the credentials: check access_token / credentials and that the token may read this repository.'
      : 'The repository needs credentials: set access_token (e.g. "{{ prefect.blocks.secret.<name> }}") or credentials on the step.';
    return { code: 'AUTH', hint, retry: false };
  }
  if (/returned error: 403|permission denied|not authorized/i.test(said)) {
    return { code: 'PERMISSION', hint: 'The credentials were accepted but may not read this repository: check the token\'s scopes.', retry: false };
  }
  if (/Remote branch .* not found|couldn't find remote ref|did not match any file\(s\) known to git|reference is not a tree|not our ref|unadvertised object/i.test(said)) {
    return { code: 'NOT_FOUND', hint: 'Check the branch or commit_sha: it is not in the repository.', retry: false };
  }
  if (/Repository not found|returned error: 404|does not appear to be a git repository|not found/i.test(said)) {
    return { code: 'NOT_FOUND', hint: 'Check the repository URL.', retry: false };
  }
  if (/SSL certificate problem|server certificate verification failed|certificate verify failed|unable to get local issuer/i.test(said)) {
    return { code: 'UNREACHABLE', hint: 'The server\'s TLS certificate is not trusted: point GIT_SSL_CAINFO at its CA certificate.', retry: false };
  }
  if (/Could not resolve host|Failed to connect|Connection refused|Connection reset|timed out|returned error: 5\d\d|early EOF|RPC failed/i.test(said)) {
    return { code: 'UNREACHABLE', hint: 'Check the network and the repository host.', retry: true };
  }
  return { code: 'GIT', retry: true };
}

/**
 * Prefect's GCP credential dicts → GCS backend options, as prefect-gcp's steps choose:
 * `service_account_info` (a dict, or its JSON text), else `service_account_file`, else the
 * machine's default credentials. The project is the credentials' `project`, else the step's
 * `project` argument (Prefect overwrites the argument with the credentials' value even when
 * that is empty — a bug not kept here). A GCS emulator is reached through STORAGE_EMULATOR_HOST
 * in the steps' environment, as Google's Python client does.
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { registerBlockSecrets } from '../sources/lookup.js';

const str = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));

export interface GcsStepOptions {
  projectId?: string;
  endpoint?: string;
  credentials?: Record<string, unknown>;
  keyFilename?: string;
}

export function gcsOptionsFromPrefect(credentialsIn: unknown, project: unknown, env: NodeJS.ProcessEnv, label: string): GcsStepOptions {
  const creds = credentialsIn !== null && typeof credentialsIn === 'object' && !Array.isArray(credentialsIn) ? (credentialsIn as Record<string, unknown>) : {};
  const out: GcsStepOptions = {};
  let info = creds['service_account_info'];
  if (typeof info === 'string' && info.trim() !== '') {
    registerSecret(info);
    try {
      info = JSON.parse(info) as unknown;
    } catch (err) {
      throw new FlowsyncError('INVALID_INPUT', `${label}: service_account_info is text but not JSON. Give the service account key's JSON (as a mapping or its text).`, { cause: err });
    }
  }
  if (info !== null && typeof info === 'object' && !Array.isArray(info) && Object.keys(info).length > 0) {
    registerBlockSecrets('', info);
    registerSecret(str((info as Record<string, unknown>)['private_key']));
    out.credentials = info as Record<string, unknown>;
  } else if (str(creds['service_account_file'])) {
    out.keyFilename = str(creds['service_account_file'])!;
  }
  const projectId = str(creds['project']) ?? str(project);
  if (projectId) out.projectId = projectId;
  const emulator = str(env['STORAGE_EMULATOR_HOST']);
  if (emulator) out.endpoint = emulator;
  return out;
}

/**
 * With credentials, Google's client first fetches an access token from the key's token URL; the
 * backend reports a failure there as "cannot reach the GCS endpoint", which blames an emulator
 * that was never asked. Returns the error re-worded when that is what happened, else null.
 */
export function tokenFetchFailure(err: unknown, options: GcsStepOptions, label: string): FlowsyncError | null {
  if (!options.credentials && !options.keyFilename) return null;
  const url = failedUrl(err);
  if (!url) return null;
  let failed: URL;
  try {
    failed = new URL(url);
  } catch {
    return null;
  }
  const storageHost = options.endpoint ? new URL(/^https?:\/\//.test(options.endpoint) ? options.endpoint : `http://${options.endpoint}`).host : 'storage.googleapis.com';
  if (failed.host === storageHost || !/token/i.test(failed.pathname)) return null;
  const account = typeof options.credentials?.['client_email'] === 'string' ? ` for ${options.credentials['client_email']}` : '';
  const reason = failedReason(err);
  const fix = options.endpoint
    ? `An emulator (STORAGE_EMULATOR_HOST ${options.endpoint}) takes no credentials: drop "credentials" from the step (or service_account_info from the block) when using one, or let this machine reach ${failed.host}.`
    : `Let this machine reach ${failed.host} (proxy, DNS, firewall), or check token_uri in the service account key.`;
  return new FlowsyncError('AUTH', `${label}: getting an access token${account} from ${failed.origin}${failed.pathname} failed (${reason}); ${options.endpoint ? 'the emulator was not the problem. ' : ''}${fix}`, { cause: err });
}

/** The network's own words for the failure: gaxios's "reason: …", else the error code. */
function failedReason(err: unknown): string {
  for (let cur = err as { cause?: unknown; code?: unknown; message?: string } | undefined, depth = 0; cur && depth < 5; cur = cur.cause as typeof cur, depth++) {
    const m = /reason: ([^.]+?)(?:\.|$)/.exec(cur.message ?? '');
    if (m) return m[1]!;
    if (typeof cur.code === 'string' && /^E[A-Z]+$/.test(cur.code)) return cur.code;
  }
  return 'no answer';
}

/** The URL a failed HTTP request went to, from the error chain (gaxios keeps it in config.url and its message). */
function failedUrl(err: unknown): string | undefined {
  for (let cur = err as { cause?: unknown; config?: { url?: unknown }; message?: string } | undefined, depth = 0; cur && depth < 5; cur = cur.cause as typeof cur, depth++) {
    if (typeof cur.config?.url === 'string') return cur.config.url;
    const m = /request to (https?:\/\/\S+) failed/.exec(cur.message ?? '');
    if (m) return m[1];
  }
  return undefined;
}

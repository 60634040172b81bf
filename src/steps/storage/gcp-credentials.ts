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

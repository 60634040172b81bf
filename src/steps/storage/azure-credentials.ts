/**
 * Prefect's Azure credential dicts → Azure backend options, as prefect-azure's steps choose:
 * `connection_string`; else `account_url` with a client secret credential when `tenant_id`,
 * `client_id` and `client_secret` are all there, otherwise DefaultAzureCredential; neither a
 * connection string nor an account URL is an error (credentials are required, as in Prefect).
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';

const str = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));

export interface AzureStepOptions {
  connectionString?: string;
  accountUrl?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Set for account_url without a client secret: Prefect's DefaultAzureCredential. */
  credential?: import('@azure/identity').TokenCredential;
  env?: Record<string, string | undefined>;
}

export async function azureOptionsFromPrefect(credentialsIn: unknown, env: NodeJS.ProcessEnv, label: string): Promise<AzureStepOptions> {
  const creds = credentialsIn !== null && typeof credentialsIn === 'object' && !Array.isArray(credentialsIn) ? (credentialsIn as Record<string, unknown>) : {};
  const connectionString = str(creds['connection_string']);
  registerSecret(connectionString);
  if (connectionString) return { connectionString, env };
  const accountUrl = str(creds['account_url']);
  if (!accountUrl) {
    throw new FlowsyncError(
      'INVALID_INPUT',
      `${label}: the Azure credentials need either connection_string or account_url (with tenant_id, client_id and client_secret, or none of them for the default Azure credential). ` +
        'Pass them as a block, e.g. credentials: "{{ prefect.blocks.azure-blob-storage-credentials.<name> }}".',
    );
  }
  const tenantId = str(creds['tenant_id']);
  const clientId = str(creds['client_id']);
  const clientSecret = str(creds['client_secret']);
  registerSecret(clientSecret);
  if (tenantId && clientId && clientSecret) return { accountUrl, tenantId, clientId, clientSecret, env };
  // Loaded only here: the identity library is big and most runs never need it.
  const { DefaultAzureCredential } = await import('@azure/identity');
  return { accountUrl, credential: new DefaultAzureCredential(), env };
}

/** What `RemoteOptions.azure` may carry (typed, so a misspelt key fails to compile). */
import type { TokenCredential } from '@azure/identity';
import type { ContainerClient } from '@azure/storage-blob';

export interface AzureOptions {
  connectionString?: string;
  /** Blob service URL, e.g. https://acct.blob.core.windows.net (may carry a SAS query). */
  accountUrl?: string;
  accountName?: string;
  accountKey?: string;
  sasToken?: string;
  credential?: TokenCredential;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** A ready-made client for the container; every other option is then ignored. */
  client?: ContainerClient;
  /** Blob service URL overriding accountUrl and the connection string's BlobEndpoint (Azurite). */
  endpoint?: string;
  /** Environment to read AZURE_STORAGE_* from (default process.env); for tests. */
  env?: Record<string, string | undefined>;
}

export interface AzureBackendOptions extends AzureOptions {
  container: string;
}

/**
 * The object stores the bench runs against, each behind its own counting (and delaying) proxy:
 * s3rver always, Azurite when an Azure contender runs. The harness's admin clients talk to the
 * servers directly, so their checks are neither counted nor delayed.
 */
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteServer } from '../../test/servers/azurite.js';
import { startS3rver, type S3rverServer } from '../../test/servers/s3rver.js';
import { AzureAdmin } from './azure-admin.js';
import { startCountingProxy, type CountingProxy, type NetworkModel, type RequestCounts } from './proxy.js';
import { S3Admin, type RemoteAdmin } from './s3-admin.js';

export interface Stores {
  s3: { server: S3rverServer; proxy: CountingProxy; admin: S3Admin };
  azure: { server: AzuriteServer; proxy: CountingProxy; admin: AzureAdmin; sasQuery: string } | null;
  admin(kind: 's3' | 'azure'): RemoteAdmin;
  /** Every proxy's counts start again from zero. */
  reset(): void;
  counts(kind: 's3' | 'azure'): RequestCounts;
  setNetwork(model: NetworkModel): void;
  close(): Promise<void>;
}

/** An account SAS for rclone (all blob permissions, a day): Azurite's well-known key, nothing secret. */
function azuriteSas(): string {
  const cred = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  return generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 24 * 3600_000),
      permissions: AccountSASPermissions.parse('rwdlacup'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('b').toString(),
      protocol: SASProtocol.HttpsAndHttp,
    },
    cred,
  ).toString();
}

export async function startStores(bucket: string, withAzure: boolean): Promise<Stores> {
  const server = await startS3rver({ buckets: [bucket] });
  const proxy = await startCountingProxy(server.port);
  const credentials = { accessKeyId: server.env.AWS_ACCESS_KEY_ID!, secretAccessKey: server.env.AWS_SECRET_ACCESS_KEY! };
  const s3 = { server, proxy, admin: new S3Admin(server.endpoint, credentials, server.env.AWS_REGION!) };
  let azure: Stores['azure'] = null;
  if (withAzure) {
    try {
      const az = await startAzurite({ containers: [bucket] });
      const azProxy = await startCountingProxy(az.port);
      azure = { server: az, proxy: azProxy, admin: new AzureAdmin(az.endpoint, AZURITE_ACCOUNT, AZURITE_KEY), sasQuery: azuriteSas() };
    } catch (err) {
      s3.admin.close();
      await proxy.close();
      await server.stop();
      throw err;
    }
  }
  const proxies = [proxy, ...(azure ? [azure.proxy] : [])];
  return {
    s3,
    azure,
    admin: (kind) => {
      if (kind === 's3') return s3.admin;
      if (!azure) throw new Error('No Azurite in this run.');
      return azure.admin;
    },
    reset: () => proxies.forEach((p) => p.reset()),
    counts: (kind) => (kind === 's3' ? proxy : azure!.proxy).snapshot(),
    setNetwork: (model) => proxies.forEach((p) => p.setNetwork(model)),
    close: async () => {
      s3.admin.close();
      for (const p of proxies) await p.close();
      await server.stop();
      if (azure) await azure.server.stop();
    },
  };
}

/** The endpoint a contender talks to (through the proxy), with the Azure account path. */
export function azureProxyEndpoint(stores: Stores): string | null {
  return stores.azure ? `${stores.azure.proxy.endpoint}/${AZURITE_ACCOUNT}` : null;
}

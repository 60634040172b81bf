/**
 * Object names of the packed layout (DESIGN §5.2), all under `<prefix>/.flowsync/`:
 * `versions/<id>.json`, `packs/<sha256>.tar`, `blobs/<sha256>`. Names are content hashes, so
 * nothing here is ever overwritten with different bytes.
 */
import { folderPrefix } from '../backends/keys.js';
import { RESERVED_DIR } from '../manifest/paths.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

const base = (prefix: string) => `${folderPrefix(prefix)}${RESERVED_DIR}/`;

export const versionsFolder = (prefix: string) => `${base(prefix)}versions/`;
export const packsFolder = (prefix: string) => `${base(prefix)}packs/`;
export const blobsFolder = (prefix: string) => `${base(prefix)}blobs/`;

export const versionKey = (prefix: string, id: string) => `${versionsFolder(prefix)}${id}.json`;
export const packKey = (prefix: string, sha256: string) => `${packsFolder(prefix)}${sha256}.tar`;
export const blobKey = (prefix: string, sha256: string) => `${blobsFolder(prefix)}${sha256}`;

/** The version id of a key listed under `versions/`, or null for anything else. */
export function versionIdOf(prefix: string, key: string): string | null {
  const folder = versionsFolder(prefix);
  if (!key.startsWith(folder) || !key.endsWith('.json')) return null;
  const id = key.slice(folder.length, -'.json'.length);
  return SHA256_HEX.test(id) ? id : null;
}

export const isSha256 = (s: string) => SHA256_HEX.test(s);

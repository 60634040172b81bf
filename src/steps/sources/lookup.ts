/**
 * Blocks and variables from every configured source, first source that has it wins (the
 * `--blocks` file, then the Prefect API). Each document is read once per run. Every string
 * in a block that looks secret is registered with `registerSecret`, so it can never show up in
 * a message, a log line or an error.
 */
import { FlowsyncError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { NOT_SET, type BlockLookup } from '../templating.js';
import type { BlockSource } from './types.js';

// Field names whose values are credentials in Prefect's block types (SecretStr fields and the
// like). Block types with "secret" in their slug have every string registered.
const SECRET_FIELD = /secret|password|token|key|credential|connection_string|private|sas|passphrase/i;

export function registerBlockSecrets(slug: string, data: unknown, fieldName = ''): void {
  const all = /secret/i.test(slug);
  const visit = (v: unknown, field: string, inherited: boolean): void => {
    const secret = inherited || all || SECRET_FIELD.test(field);
    if (typeof v === 'string') {
      if (secret) registerSecret(v);
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, field, secret);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) visit(item, k, secret);
    }
  };
  visit(data, fieldName, false);
}

export function createBlockLookup(sources: BlockSource[]): BlockLookup {
  const blocks = new Map<string, Promise<Record<string, unknown>>>();
  const variables = new Map<string, Promise<unknown>>();
  const where = (): string =>
    sources.length === 0
      ? 'No source of blocks is configured: pass --blocks FILE (blocks: {<slug>: {<name>: {...}}}) or set PREFECT_API_URL.'
      : `Looked in: ${sources.map((s) => s.description).join(', ')}. Add it there (or create it in Prefect).`;

  async function firstFound<T>(read: (s: BlockSource) => Promise<T | null>): Promise<T | null> {
    for (const s of sources) {
      const found = await read(s);
      if (found !== null) return found;
    }
    return null;
  }

  return {
    block(slug, name) {
      const key = `${slug}\0${name}`;
      let p = blocks.get(key);
      if (!p) {
        p = (async () => {
          const data = await firstFound((s) => s.readBlock(slug, name));
          if (data === null) {
            throw new FlowsyncError('NOT_FOUND', `Block ${slug}/${name} (placeholder {{ prefect.blocks.${slug}.${name} }}) was not found. ${where()}`);
          }
          registerBlockSecrets(slug, data);
          return data;
        })();
        blocks.set(key, p);
      }
      return p;
    },
    blockById(id) {
      const key = `$ref\0${id}`;
      let p = blocks.get(key);
      if (!p) {
        p = (async () => {
          const data = await firstFound((s) => s.readBlockById(id));
          if (data === null) {
            throw new FlowsyncError('NOT_FOUND', `Block document ${id} (a {"$ref": {"block_document_id": ...}} reference) was not found. ${where()} Only the Prefect API can resolve references by id.`);
          }
          registerBlockSecrets('', data);
          return data;
        })();
        blocks.set(key, p);
      }
      return p;
    },
    variable(name) {
      let p = variables.get(name);
      if (!p) {
        p = firstFound((s) => s.readVariable(name)).then((found) => (found === null ? NOT_SET : found.value));
        variables.set(name, p);
      }
      return p;
    },
  };
}

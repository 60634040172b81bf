/**
 * The local source of blocks and variables (`--blocks FILE`), YAML or JSON:
 *   blocks:    { <block-type-slug>: { <block-name>: <data> } }
 *   variables: { <name>: <value> }
 * Both keys are optional. A file meant for a CI job or a laptop without a Prefect server.
 */
import { promises as fsp } from 'node:fs';
import { FlowsyncError, fsError } from '../../errors.js';
import { parseYamlText } from '../yaml-text.js';
import type { BlockSource } from './types.js';

type Mapping = Record<string, unknown>;

function isMapping(v: unknown): v is Mapping {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export async function loadBlocksFile(file: string): Promise<BlockSource> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw fsError(err, 'read the blocks file', file);
  }
  return blocksFromText(text, file);
}

export function blocksFromText(text: string, file: string): BlockSource {
  const doc = parseYamlText(text, `blocks file ${file}`).value ?? {};
  const bad = (what: string): FlowsyncError =>
    new FlowsyncError(
      'INVALID_INPUT',
      `Blocks file ${file}: ${what}. Expected {blocks: {<block-type-slug>: {<block-name>: {<field>: value}}}, variables: {<name>: value}}.`,
    );
  if (!isMapping(doc)) throw bad('the top level is not a mapping');
  const unknownKeys = Object.keys(doc).filter((k) => k !== 'blocks' && k !== 'variables');
  if (unknownKeys.length > 0) throw bad(`unknown top-level key(s) ${unknownKeys.join(', ')}`);
  const blocks = doc['blocks'] ?? {};
  const variables = doc['variables'] ?? {};
  if (!isMapping(blocks)) throw bad('"blocks" is not a mapping');
  if (!isMapping(variables)) throw bad('"variables" is not a mapping');
  for (const [slug, byName] of Object.entries(blocks)) {
    if (!isMapping(byName)) throw bad(`blocks.${slug} is not a mapping of block names`);
    for (const [name, data] of Object.entries(byName)) {
      if (name.includes('.')) throw bad(`block name "${name}" contains a dot, which a placeholder cannot address`);
      if (!isMapping(data)) throw bad(`blocks.${slug}.${name} is not a mapping of the block's fields (a Secret block is {value: ...})`);
    }
  }

  return {
    description: `blocks file ${file}`,
    async readBlock(slug, name) {
      const byName = blocks[slug] as Mapping | undefined;
      const data = byName && Object.prototype.hasOwnProperty.call(byName, name) ? byName[name] : undefined;
      return (data as Mapping | undefined) ?? null;
    },
    async readBlockById() {
      return null;
    },
    async readVariable(name) {
      return Object.prototype.hasOwnProperty.call(variables, name) ? { value: variables[name] } : null;
    },
  };
}

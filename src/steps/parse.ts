/**
 * Read a prefect.yaml and pick the steps of one section (`build`, `push` or `pull`): the top-level list,
 * or, with a deployment name, that deployment's own list when it has a non-empty one (as
 * `prefect deploy` does). Each step is a single-key mapping `{fully.qualified.name: {kwargs}}`;
 * the reserved keys `id` and `requires` are taken out of the kwargs here. Every step carries
 * the line it starts on, so later errors can point at it.
 */
import { promises as fsp } from 'node:fs';
import { isMap, isSeq, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { FlowsyncError, fsError } from '../errors.js';
import { parseYamlText, type YamlText } from './yaml-text.js';
import { isPlainObject } from '../util/objects.js';

export type Section = 'build' | 'push' | 'pull';

export interface ParsedStep {
  /** 1-based position in the section's list (null entries, which Prefect skips, count too). */
  index: number;
  /** The fully qualified step name as written. */
  name: string;
  /** Keyword arguments, without `id` and `requires`. */
  args: Record<string, unknown>;
  id?: string;
  requires?: string[];
  /** 1-based line of the step in the file, when known. */
  line?: number;
}

export interface ParsedSection {
  section: Section;
  file: string;
  /** Deployment the steps came from, when they came from a deployment's own section. */
  deployment?: string;
  steps: ParsedStep[];
}

/** "prefect.yaml line 12: push step 2 'push_to_s3'" — how every message names a step. */
export function describeStep(file: string, section: Section, step: Pick<ParsedStep, 'index' | 'name' | 'line'>): string {
  const short = step.name.split('.').pop() || step.name;
  return `${file}${step.line ? ` line ${step.line}` : ''}: ${section} step ${step.index} '${short}'`;
}

export async function loadSection(file: string, section: Section, deployment?: string): Promise<ParsedSection> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    const e = fsError(err, 'read', file);
    if (e.code === 'NOT_FOUND') {
      throw new FlowsyncError('NOT_FOUND', `Cannot read ${file}: it does not exist. Run in the folder that holds prefect.yaml or pass --file.`, { cause: err });
    }
    throw e;
  }
  return parseSection(text, file, section, deployment);
}

export function parseSection(text: string, file: string, section: Section, deployment?: string): ParsedSection {
  const yaml = parseYamlText(text, file);
  const root = yaml.doc.contents;
  if (root !== null && !isMap(root)) {
    throw new FlowsyncError('INVALID_INPUT', `${file}: the top level is not a mapping. A prefect.yaml has keys like push:, pull: and deployments:.`);
  }
  let list: Node | null = root ? sectionNode(root, section) : null;
  let from: string | undefined;
  if (deployment !== undefined) {
    const dep = findDeployment(root, deployment, file, yaml);
    const own = sectionNode(dep, section);
    if (own && !(isSeq(own) && own.items.length === 0)) {
      list = own;
      from = deployment;
    }
  }
  return { section, file, ...(from !== undefined ? { deployment: from } : {}), steps: list ? readSteps(list, file, section, yaml) : [] };
}

function sectionNode(map: YAMLMap, section: Section): Node | null {
  const node = map.get(section, true) as Node | undefined | null;
  // `pull:` with nothing after it is an empty section (YAML null).
  if (node === undefined || node === null || (node as { value?: unknown }).value === null) return null;
  return node;
}

function findDeployment(root: YAMLMap | null, name: string, file: string, yaml: YamlText): YAMLMap {
  const deployments = root?.get('deployments', true) as Node | undefined;
  const names: string[] = [];
  if (isSeq(deployments)) {
    for (const item of deployments.items) {
      if (!isMap(item)) continue;
      const n = item.get('name');
      if (typeof n === 'string') names.push(n);
      if (n === name) return item;
    }
  }
  const line = yaml.lineOf(deployments);
  throw new FlowsyncError(
    'INVALID_INPUT',
    `${file}${line ? ` line ${line}` : ''}: no deployment named "${name}". ` +
      (names.length > 0 ? `Deployments in the file: ${names.join(', ')}.` : 'The file has no deployments: list.'),
  );
}

function readSteps(list: Node, file: string, section: Section, yaml: YamlText): ParsedStep[] {
  if (!isSeq(list)) {
    const line = yaml.lineOf(list);
    throw new FlowsyncError('INVALID_INPUT', `${file}${line ? ` line ${line}` : ''}: "${section}:" must be a list of steps (each item starting with "- ").`);
  }
  const steps: ParsedStep[] = [];
  (list as YAMLSeq).items.forEach((item, i) => {
    const index = i + 1;
    const node = item as Node | null;
    const line = yaml.lineOf(node);
    const where = `${file}${line ? ` line ${line}` : ''}: ${section} step ${index}`;
    const value = node ? (node.toJS(yaml.doc, { maxAliasCount: 1000 }) as unknown) : null;
    // Prefect skips an empty entry (`- ` alone).
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      throw new FlowsyncError('INVALID_INPUT', `${where} is not a mapping: write it as "- <step.name>:" followed by its arguments.`);
    }
    const keys = Object.keys(value);
    if (keys.length !== 1) {
      throw new FlowsyncError(
        'INVALID_INPUT',
        keys.length === 0
          ? `${where} is empty: write it as "- <step.name>:" followed by its arguments.`
          : `${where} has ${keys.length} keys (${keys.join(', ')}); a step is a single key, its fully qualified name, with the arguments indented under it. Check the indentation of the arguments.`,
      );
    }
    const name = keys[0]!;
    const raw = value[name];
    if (raw !== null && raw !== undefined && !isPlainObject(raw)) {
      throw new FlowsyncError('INVALID_INPUT', `${where} '${name}': its arguments must be a mapping (key: value lines indented under the name).`);
    }
    const args: Record<string, unknown> = { ...((raw as Record<string, unknown> | null) ?? {}) };
    const step: ParsedStep = { index, name, args, ...(line ? { line } : {}) };
    if ('id' in args) {
      const id = args['id'];
      delete args['id'];
      if (id !== null && id !== undefined && id !== '') {
        if (typeof id !== 'string' && typeof id !== 'number') {
          throw new FlowsyncError('INVALID_INPUT', `${where} '${name}': "id" must be a plain name, got ${JSON.stringify(id)}.`);
        }
        step.id = String(id);
      }
    }
    if ('requires' in args) {
      const req = args['requires'];
      delete args['requires'];
      const list = req === null || req === undefined || req === '' ? [] : Array.isArray(req) ? req : [req];
      step.requires = list.map(String);
    }
    steps.push(step);
  });
  return steps;
}

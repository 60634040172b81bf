/**
 * prefect.yaml templating, as Prefect's `prefect.utilities.templating` behaves (no Jinja).
 *
 * A placeholder is `{{ name }}` with name matching `[\w.\-\[\]$]+`. Its kind follows from its
 * name: `prefect.blocks.…` (a block document), `prefect.variables.…` (a variable), `$NAME` (an
 * environment variable), anything else a standard one (a step output, dotted path with [i]).
 *
 * A step's inputs pass four rounds, in Prefect's order (`resolveStepInputs`):
 *   1. step outputs (standard placeholders) and `$ENV` placeholders;
 *   2. blocks; 3. variables;
 *   4. the environment again, as the values (so placeholders that arrived inside a resolved
 *      block or variable value, `{{ $HOME }}` or `{{ HOME }}`, are filled too).
 *
 * A placeholder that is the whole string keeps the value's type (a dict stays a dict); an
 * embedded one is replaced by Python's `str(value)`. At run time (`removeNotSet`) an
 * unresolved whole-value placeholder removes its key (the step's default applies) and an
 * unresolved embedded one, or an unset env var, becomes "".
 */
import { FlowsyncError } from '../errors.js';
import { getByKeyPath } from './keypath.js';
import { pythonStr } from './python-str.js';
import { isPlainObject } from '../util/objects.js';

export type PlaceholderKind = 'standard' | 'block' | 'variable' | 'env';

export interface Placeholder {
  /** The text matched, braces included: `{{ push_code.bucket }}`. */
  fullMatch: string;
  name: string;
  kind: PlaceholderKind;
}

const BLOCK_PREFIX = 'prefect.blocks.';
const VARIABLE_PREFIX = 'prefect.variables.';
const ENV_PREFIX = '$';
// Python's \w is Unicode-aware: letters, digits (all numeric categories) and underscore.
const PLACEHOLDER = /\{\{\s*([\p{L}\p{N}_.\-[\]$]+)\s*\}\}/gu;

/** Marks a value that did not resolve (Prefect's NotSet). */
export const NOT_SET: unique symbol = Symbol('NotSet');
export type NotSet = typeof NOT_SET;

export function placeholderKind(name: string): PlaceholderKind {
  if (name.startsWith(BLOCK_PREFIX)) return 'block';
  if (name.startsWith(VARIABLE_PREFIX)) return 'variable';
  if (name.startsWith(ENV_PREFIX)) return 'env';
  return 'standard';
}

/** The distinct placeholders of a string, in order of first appearance. */
export function findPlaceholders(text: string): Placeholder[] {
  const seen = new Map<string, Placeholder>();
  for (const m of text.matchAll(PLACEHOLDER)) {
    const fullMatch = m[0];
    const name = m[1] as string;
    if (!seen.has(fullMatch)) seen.set(fullMatch, { fullMatch, name, kind: placeholderKind(name) });
  }
  return [...seen.values()];
}

/** The single placeholder that makes up the whole string, if that is what the string is. */
function wholePlaceholder(text: string, found: Placeholder[]): Placeholder | null {
  return found.length === 1 && found[0]!.fullMatch === text ? found[0]! : null;
}

export interface ApplyOptions {
  /** Drop unresolved whole-value keys and blank unresolved embedded placeholders (run time). */
  removeNotSet: boolean;
  /** Where `{{ $NAME }}` is looked up. */
  env: NodeJS.ProcessEnv;
  /** Leave `{{ $NAME }}` untouched (used when baking push outputs into pull steps). */
  skipEnv?: boolean;
}

/**
 * Prefect's `apply_values`: fill standard placeholders from `values` and env placeholders from
 * the environment. Returns NOT_SET for a whole-value placeholder that did not resolve.
 */
export function applyValues(template: unknown, values: Record<string, unknown>, o: ApplyOptions): unknown {
  if (typeof template === 'string') return applyToString(template, values, o);
  if (Array.isArray(template)) {
    // Prefect drops an unresolved list item even when keeping unresolved keys (remove_notset=False).
    const out: unknown[] = [];
    for (const item of template) {
      const v = applyValues(item, values, o);
      if (v !== NOT_SET) out.push(v);
    }
    return out;
  }
  if (isPlainObject(template)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      const v = applyValues(value, values, o);
      if (v !== NOT_SET) out[key] = v;
      else if (!o.removeNotSet) out[key] = value;
    }
    return out;
  }
  return template;
}

function applyToString(text: string, values: Record<string, unknown>, o: ApplyOptions): unknown {
  const found = findPlaceholders(text);
  if (found.length === 0) return text;
  const whole = wholePlaceholder(text, found);
  if (whole && whole.kind === 'standard') return getByKeyPath(values, whole.name, NOT_SET);
  let out = text;
  for (const p of found) {
    let value: unknown;
    if (p.kind === 'standard') value = getByKeyPath(values, p.name, NOT_SET);
    else if (p.kind === 'env' && !o.skipEnv) value = envValue(o.env, p.name);
    else continue;
    if (value === NOT_SET) {
      if (!o.removeNotSet) continue;
      value = '';
    }
    out = out.split(p.fullMatch).join(pythonStr(value));
  }
  return out;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | NotSet {
  // Python's str.lstrip('$') strips every leading '$'.
  const v = env[name.replace(/^\$+/, '')];
  return v === undefined ? NOT_SET : v;
}

// ---------------------------------------------------------------------------------------------
// Blocks and variables

export interface BlockLookup {
  /** The block document's data; throws a FlowsyncError when it does not exist. */
  block(typeSlug: string, name: string): Promise<Record<string, unknown>>;
  /** `{"$ref": {"block_document_id": id}}`; throws when it does not exist. */
  blockById(id: string): Promise<Record<string, unknown>>;
  /** The variable's value, or NOT_SET when there is no such variable. */
  variable(name: string): Promise<unknown>;
}

/** Prefect's `resolve_block_document_references`. */
export async function resolveBlocks(template: unknown, lookup: BlockLookup): Promise<unknown> {
  if (Array.isArray(template)) {
    const out: unknown[] = [];
    for (const item of template) out.push(await resolveBlocks(item, lookup));
    return out;
  }
  if (isPlainObject(template)) {
    const ref = template['$ref'];
    if (isPlainObject(ref) && ref['block_document_id']) return lookup.blockById(String(ref['block_document_id']));
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) out[key] = await resolveBlocks(value, lookup);
    return out;
  }
  if (typeof template !== 'string') return template;

  const found = findPlaceholders(template);
  const blocks = found.filter((p) => p.kind === 'block');
  if (blocks.length === 0) return template;
  const whole = wholePlaceholder(template, found);
  if (whole) return blockValue(whole, lookup);
  // Embedded: each block placeholder must give a scalar, printed as Python would.
  let out = template;
  for (const p of blocks) {
    const value = await blockValue(p, lookup);
    if (value !== null && typeof value === 'object') {
      throw new FlowsyncError(
        'INVALID_INPUT',
        `Invalid template ${JSON.stringify(template)}: ${p.fullMatch} is a ${Array.isArray(value) ? 'list' : 'mapping'}, and a block placeholder inside other text must give a single value. ` +
          `Add a key path (${p.fullMatch.replace(/\s*\}\}$/, '.<field> }}')}) or make the placeholder the whole value.`,
      );
    }
    out = out.split(p.fullMatch).join(pythonStr(value));
  }
  return out;
}

async function blockValue(p: Placeholder, lookup: BlockLookup): Promise<unknown> {
  const rest = p.name.slice(BLOCK_PREFIX.length);
  // Block names cannot contain dots: `<slug>.<name>[.<key path>]` (Python's split('.', 2)).
  const [slug, name, ...more] = rest.split('.');
  const keyPath = more.length > 0 ? more.join('.') : undefined;
  if (!slug || !name) {
    throw new FlowsyncError(
      'INVALID_INPUT',
      `Invalid block placeholder ${p.fullMatch}: write {{ prefect.blocks.<block-type-slug>.<block-name> }}, optionally followed by .<key path>.`,
    );
  }
  let data: unknown = await lookup.block(slug, name);
  // System blocks (Secret, String, JSON, DateTime) hold only `value`: use it directly, unless
  // the key path already starts with "value" (kept for older templates that spelled it out).
  if (isPlainObject(data) && Object.keys(data).length === 1 && 'value' in data && !(keyPath && keyPath.startsWith('value'))) {
    data = data['value'];
  }
  if (keyPath === undefined) return data;
  const value = getByKeyPath(data, keyPath, NOT_SET);
  if (value === NOT_SET) {
    throw new FlowsyncError(
      'INVALID_INPUT',
      `Invalid template ${p.fullMatch}: could not resolve the key path "${keyPath}" in block ${slug}/${name}. Check the field name against the block's data.`,
    );
  }
  return value;
}

/** Prefect's `resolve_variables`: a missing variable gives "" (whole value) or is blanked (embedded). */
export async function resolveVariables(template: unknown, lookup: BlockLookup): Promise<unknown> {
  if (Array.isArray(template)) {
    const out: unknown[] = [];
    for (const item of template) out.push(await resolveVariables(item, lookup));
    return out;
  }
  if (isPlainObject(template)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) out[key] = await resolveVariables(value, lookup);
    return out;
  }
  if (typeof template !== 'string') return template;
  const found = findPlaceholders(template);
  const variables = found.filter((p) => p.kind === 'variable');
  if (variables.length === 0) return template;
  const whole = wholePlaceholder(template, found);
  if (whole) {
    const value = await lookup.variable(whole.name.slice(VARIABLE_PREFIX.length));
    return value === NOT_SET ? '' : value;
  }
  let out = template;
  for (const p of variables) {
    const value = await lookup.variable(p.name.slice(VARIABLE_PREFIX.length));
    out = out.split(p.fullMatch).join(value === NOT_SET ? '' : pythonStr(value));
  }
  return out;
}

/** All four rounds a step's inputs go through before the step runs (Prefect's `run_step`). */
export async function resolveStepInputs(
  inputs: Record<string, unknown>,
  outputs: Record<string, unknown>,
  lookup: BlockLookup,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  const runTime = { removeNotSet: true, env };
  let v = applyValues(inputs, outputs, runTime);
  v = await resolveBlocks(v, lookup);
  v = await resolveVariables(v, lookup);
  v = applyValues(v, env as Record<string, unknown>, runTime);
  return v as Record<string, unknown>;
}

/**
 * Bake earlier outputs into steps that run later, as `prefect deploy` bakes push outputs into
 * the pull steps it stores: resolved standard placeholders are filled, everything else stays
 * for run time. Environment placeholders are left too, so they read the environment of the
 * machine that runs the pull (Prefect would fill them from the deploying machine's).
 */
export function bakeOutputs(inputs: Record<string, unknown>, outputs: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  return applyValues(inputs, outputs, { removeNotSet: false, env, skipEnv: true }) as Record<string, unknown>;
}

/**
 * A required argument that comes out of a placeholder empty or unresolved is refused before the
 * step runs, naming each placeholder and where its value should have come from. Prefect would
 * fail too (an unresolved whole-value placeholder removes the key, and the step function lacks
 * an argument), but for a storage step flowsync's old behaviour was worse: a missing folder
 * became the bucket root, and the push deleted there.
 */
import { FlowsyncError } from '../errors.js';
import { getByKeyPath } from './keypath.js';
import { findPlaceholders, NOT_SET, type BlockLookup, type Placeholder } from './templating.js';
import type { StepDefinition } from './types.js';

export interface HintContext {
  section: 'build' | 'push' | 'pull';
  /** This step's own id, if it has one. */
  stepId?: string;
  /** Ids of the steps before this one in the section, with their outputs so far. */
  outputs: Record<string, unknown>;
  earlierIds: ReadonlySet<string>;
  lookup: BlockLookup;
  env: NodeJS.ProcessEnv;
  /** Where blocks and variables come from: whether a --blocks file / the Prefect API was given. */
  hasBlocksFile: boolean;
  hasApi: boolean;
  hasOutputsFile: boolean;
}

const empty = (v: unknown): boolean => v === undefined || v === null || v === '';

/** Why one placeholder gave nothing, and where its value should come from; null when it resolved to something. */
async function whyEmpty(p: Placeholder, h: HintContext): Promise<string | null> {
  switch (p.kind) {
    case 'env': {
      const name = p.name.replace(/^\$+/, '');
      const v = h.env[name];
      if (v === undefined) return `${p.fullMatch}: the environment variable ${name} is not set. Set it (export ${name}=...) where the steps run.`;
      return v === '' ? `${p.fullMatch}: the environment variable ${name} is set but empty.` : null;
    }
    case 'variable': {
      const name = p.name.slice('prefect.variables.'.length);
      const v = await h.lookup.variable(name);
      if (v !== NOT_SET && !empty(v)) return null;
      const from = [h.hasBlocksFile ? 'the --blocks file' : '', h.hasApi ? 'the Prefect API (PREFECT_API_URL)' : ''].filter(Boolean).join(' or ');
      if (v !== NOT_SET) return `${p.fullMatch}: the Prefect variable ${name} is empty${from ? ` in ${from}` : ''}.`;
      return `${p.fullMatch}: no Prefect variable "${name}"${from ? ` in ${from}` : ''}. ${
        from ? 'Add it there' : 'Pass --blocks FILE with variables: {' + name + ': ...}, or set PREFECT_API_URL to read it from Prefect'
      }.`;
    }
    case 'block':
      return null; // a missing block or key path is already an error of its own
    case 'standard': {
      const v = getByKeyPath(h.outputs, p.name, NOT_SET);
      if (v !== NOT_SET && !empty(v)) return null;
      const [id = p.name, ...rest] = p.name.split('.');
      const field = rest.join('.') || id;
      if (v !== NOT_SET) return `${p.fullMatch}: the step with id ${id} gave an empty ${field}.`;
      if (h.stepId !== undefined && id === h.stepId) {
        return (
          `${p.fullMatch} names this step's own output (its id is ${id}), which cannot exist before it runs. ` +
          `Prefect's own gcs recipe has this typo in its pull step; write {{ push_code.${field} }} (the push step's output).`
        );
      }
      if (h.earlierIds.has(id)) return `${p.fullMatch}: the step with id ${id} gave no output "${field}".`;
      if (h.section === 'pull') {
        return h.hasOutputsFile
          ? `${p.fullMatch}: the --outputs-file has no ${p.name} (was it written by 'flowsync steps run push --outputs-file FILE' from this prefect.yaml?).`
          : `${p.fullMatch} is a push step's output: pass --outputs-file FILE, the file 'flowsync steps run push --outputs-file FILE' wrote (as prefect deploy bakes push outputs into the pull steps).`;
      }
      return `${p.fullMatch}: no step before this one has the id ${id}.`;
    }
  }
}

/**
 * Refuse the step when a required argument is missing or empty after templating and was written
 * with placeholders. A literal '' for a parameter that allows it (a folder: the bucket root) is
 * the user's choice and passes.
 */
export async function refuseUnresolvedRequired(
  def: StepDefinition,
  raw: Record<string, unknown>,
  resolved: Record<string, unknown>,
  label: string,
  h: HintContext,
): Promise<void> {
  for (const [key, spec] of Object.entries(def.params)) {
    if (!spec.required || !empty(resolved[key])) continue;
    const written = raw[key];
    const placeholders = typeof written === 'string' ? findPlaceholders(written) : [];
    if (placeholders.length === 0) continue; // a literal (or no key at all): checkArgs says what is wrong
    const reasons: string[] = [];
    for (const p of placeholders) {
      const why = await whyEmpty(p, h);
      if (why) reasons.push(why);
    }
    const rootHint = spec.allowEmpty ? ` (For the ${def.params['container'] ? 'container' : 'bucket'} root, write ${key}: '' explicitly.)` : '';
    throw new FlowsyncError(
      'INVALID_INPUT',
      `${label}: "${key}" comes out empty from ${JSON.stringify(written)}: ${reasons.join(' ') || 'its placeholders resolved to nothing.'} Nothing was written.${rootHint}`,
    );
  }
}

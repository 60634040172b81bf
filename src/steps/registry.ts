/**
 * The built-in steps by fully qualified name (aliases included). Every step a prefect.yaml can
 * name is built in: `requires:` is accepted, and a package other than the ones these steps come
 * from only draws a warning (nothing is ever pip-installed to find a step).
 */
import { FlowsyncError } from '../errors.js';
import * as builtin from './builtin-steps.js';
import type { StepDefinition } from './types.js';

/** By name, so the list an unknown step's error prints is stable whatever order builtin-steps.ts has. */
export const BUILTIN_STEPS: readonly StepDefinition[] = (Object.values(builtin) as Array<StepDefinition | readonly StepDefinition[]>)
  .flat()
  .sort((a, b) => a.name.localeCompare(b.name));

const byName = new Map<string, StepDefinition>();
for (const def of BUILTIN_STEPS) {
  for (const n of [def.name, ...(def.aliases ?? [])]) byName.set(n, def);
}

/** Distributions the built-in steps stand in for. */
const KNOWN_PACKAGES = new Set(['prefect', 'prefect-aws', 'prefect-azure', 'prefect-gcp', 'prefect-docker', 'flowsync']);

export function findStep(name: string): StepDefinition | undefined {
  return byName.get(name);
}

export function unknownStepError(name: string, where: string): FlowsyncError {
  const names = BUILTIN_STEPS.map((d) => `  ${d.name}${d.aliases?.length ? ` (also ${d.aliases.join(', ')})` : ''}`);
  return new FlowsyncError('INVALID_INPUT', `${where}: unknown step "${name}". flowsync runs these steps:\n${names.join('\n')}`);
}

/** Requirement strings ("prefect-aws>=0.3.4", "prefect-azure[blob_storage]") naming other packages. */
export function unknownRequirements(requires: readonly string[]): string[] {
  return requires.filter((r) => {
    const dist = r.split(/[<>=!~;[\s]/)[0]!.trim().toLowerCase().replaceAll('_', '-');
    return dist !== '' && !KNOWN_PACKAGES.has(dist);
  });
}

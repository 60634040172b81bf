/**
 * Check a step's resolved arguments against its parameter list, as calling the Python function
 * would (unknown keyword, missing required argument), plus light type checks so a mistake is
 * reported before anything moves. A number given for a text parameter (`folder: 2024`) is
 * taken as text; "true"/"false" strings are taken as booleans, since an env placeholder
 * (`include_submodules: "{{ $SUBMODULES }}"`) always arrives as text.
 */
import { FlowsyncError } from '../errors.js';
import type { ParamSpec, StepDefinition } from './types.js';

export function checkArgs(def: StepDefinition, args: Record<string, unknown>, label: string): Record<string, unknown> {
  const accepted = Object.keys(def.params);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    const spec = def.params[key];
    if (!spec) {
      throw new FlowsyncError(
        'INVALID_INPUT',
        `${label}: unexpected argument "${key}". ${def.name} accepts: ${accepted.join(', ')}.`,
      );
    }
    out[key] = coerce(key, value, spec, label);
  }
  for (const [key, spec] of Object.entries(def.params)) {
    if (spec.required && (out[key] === undefined || out[key] === null || (out[key] === '' && !spec.allowEmpty))) {
      const hint = key in args ? ' (it is empty: did a placeholder resolve to nothing?)' : '';
      throw new FlowsyncError('INVALID_INPUT', `${label}: missing required argument "${key}"${hint}. ${def.name} needs: ${requiredOf(def).join(', ')}.`);
    }
  }
  return out;
}

function requiredOf(def: StepDefinition): string[] {
  return Object.entries(def.params)
    .filter(([, s]) => s.required)
    .map(([k]) => k);
}

function coerce(key: string, value: unknown, spec: ParamSpec, label: string): unknown {
  if (value === null || value === undefined) return value;
  const wrong = (expected: string): FlowsyncError =>
    new FlowsyncError('INVALID_INPUT', `${label}: argument "${key}" must be ${expected}, got ${describe(value)}.`);
  switch (spec.kind) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'bigint') return String(value);
      throw wrong('text');
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false|yes|no|on|off|1|0|)$/i.test(value.trim())) return /^(true|yes|on|1)$/i.test(value.trim());
      if (typeof value === 'number') return value !== 0;
      throw wrong('true or false');
    case 'mapping':
      if (typeof value === 'object' && !Array.isArray(value)) return value;
      throw wrong('a mapping (key: value pairs, or a block placeholder)');
    case 'string-list':
      if (typeof value === 'string') return [value];
      if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.map(String);
      throw wrong('a list of text items');
    case 'any':
      return value;
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

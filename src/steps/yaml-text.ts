/**
 * Read YAML the way Prefect reads prefect.yaml (PyYAML `safe_load`, YAML 1.1) closely enough for
 * real files: `yes`/`no`/`on`/`off` are booleans, `<<: *anchor` merge keys work, a repeated key
 * takes the last value. Dates stay strings (PyYAML's `str(date)` prints the same text) and
 * YAML 1.1's sexagesimal and leading-zero octal ints are read as YAML 1.2 does (rare in
 * prefect.yaml). Errors name the line and column.
 */
import { Document, LineCounter, parseDocument, type Node, type ScalarTag } from 'yaml';
import { FlowsyncError } from '../errors.js';

const yaml11True: ScalarTag = { tag: 'tag:yaml.org,2002:bool', default: true, test: /^(?:[Yy]es|YES|[Oo]n|ON)$/, resolve: () => true };
const yaml11False: ScalarTag = { tag: 'tag:yaml.org,2002:bool', default: true, test: /^(?:[Nn]o|NO|[Oo]ff|OFF)$/, resolve: () => false };

export interface YamlText {
  doc: Document;
  /** The plain JS value of the document (undefined for an empty file). */
  value: unknown;
  /** 1-based line where a node starts, when known. */
  lineOf(node: Node | null | undefined): number | undefined;
}

export function parseYamlText(text: string, label: string): YamlText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'core',
    customTags: (tags) => [yaml11True, yaml11False, ...tags],
    merge: true,
    uniqueKeys: false,
    lineCounter,
    prettyErrors: false,
  });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0] ?? (err.pos ? lineCounter.linePos(err.pos[0]) : undefined);
    const where = pos ? ` line ${pos.line}, column ${pos.col}` : '';
    const firstLine = err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? err.message;
    throw new FlowsyncError('INVALID_INPUT', `${label}${where}: malformed YAML: ${firstLine}. Fix the YAML syntax there.`, { cause: err });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new FlowsyncError('INVALID_INPUT', `${label}: cannot read the YAML: ${(e as Error).message}.`, { cause: e });
  }
  return {
    doc,
    value: value ?? undefined,
    lineOf(node) {
      const start = node?.range?.[0];
      return start === undefined ? undefined : lineCounter.linePos(start).line;
    },
  };
}

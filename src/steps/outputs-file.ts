/**
 * The outputs file that carries push outputs to a later pull (`--outputs-file`), the way
 * `prefect deploy` carries them into the pull steps it stores. It is a JSON object: the step
 * outputs exactly as later steps see them (`{"push_code": {"bucket": …, "folder": …}, "bucket": …}`).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlowsyncError, fsError } from '../errors.js';
import { parseYamlText } from './yaml-text.js';

export async function writeOutputsFile(file: string, outputs: Record<string, unknown>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(tmp, JSON.stringify(outputs, null, 2) + '\n', 'utf8');
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(err, 'write the outputs file', file);
  }
}

export async function readOutputsFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    const e = fsError(err, 'read the outputs file', file);
    if (e.code === 'NOT_FOUND') {
      throw new FlowsyncError('NOT_FOUND', `The outputs file ${file} does not exist. Run "flowsync steps run push --outputs-file ${file}" first, or leave --outputs-file out.`, { cause: err });
    }
    throw e;
  }
  // JSON is YAML, so one reader takes both (and names the line of a syntax error).
  const value = parseYamlText(text, `outputs file ${file}`).value;
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new FlowsyncError('INVALID_INPUT', `The outputs file ${file} does not hold a JSON object of step outputs. Write it with "flowsync steps run push --outputs-file".`);
  }
  return value as Record<string, unknown>;
}

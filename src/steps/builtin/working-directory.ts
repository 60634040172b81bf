/**
 * `set_working_directory`: later steps work in the given folder. flowsync never calls
 * process.chdir (a library must not move its host's cwd); the runner keeps the folder instead.
 */
import { promises as fsp } from 'node:fs';
import { FlowsyncError } from '../../errors.js';
import type { StepDefinition } from '../types.js';
import { resolveDir } from './shell.js';

export const setWorkingDirectoryStep: StepDefinition = {
  name: 'prefect.deployments.steps.set_working_directory',
  aliases: ['prefect.deployments.steps.pull.set_working_directory'],
  params: { directory: { kind: 'string', required: true } },
  async run(args, ctx) {
    const directory = args['directory'] as string;
    const target = resolveDir(ctx, directory);
    const st = await fsp.stat(target).catch(() => null);
    if (!st?.isDirectory()) {
      throw new FlowsyncError('NOT_FOUND', `${ctx.label}: cannot change to ${target}: it is not an existing directory. Check "directory" (relative paths start at the current working folder).`);
    }
    ctx.cwd = target;
    // Prefect returns the directory as given, not resolved.
    return { outputs: { directory } };
  },
};

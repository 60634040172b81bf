/**
 * Every built-in step, one line each: adding a step (or a list of steps) is one `export` line
 * here. registry.ts indexes them by name and aliases.
 */
export { pipInstallRequirementsStep, runShellScriptStep } from './builtin/shell.js';
export { setWorkingDirectoryStep } from './builtin/working-directory.js';
export { gitCloneStep } from './git/clone.js';
export { storageSteps } from './storage/steps.js';
export { flowsyncSteps } from './flowsync/steps.js';
export { buildDockerImageStep, pushDockerImageStep } from './docker/steps.js';

/**
 * Every CLI command, one line each: adding a command is one `export` line here (the name of the
 * export does not matter; `flowsync --help` lists commands in main.ts's HELP_ORDER, others after).
 */
export { cacheCommand } from './cache.js';
export { initCommand } from './init.js';
export { pullCommand } from './pull.js';
export { pushCommand } from './push.js';
export { scanCommand } from './scan.js';
export { statusCommand } from './status.js';
export { stepsCommand } from './steps.js';
export { verifyCommand } from './verify.js';
export { gcCommand } from './gc.js';
export { logCommand } from './log.js';
export { rollbackCommand } from './rollback.js';
export { imageCommand } from './image.js';

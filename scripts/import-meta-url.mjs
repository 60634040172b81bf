// Injected into the CommonJS CLI bundle (scripts/bundle.mjs): what import.meta.url was in the module build.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;

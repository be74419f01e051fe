/**
 * Build-only entry (tsup.config.ts): the same exports as the package entry. With a second entry
 * that reaches every module, the bundler moves all code out of `index.js`/`browser.js` into
 * shared chunks, leaving the entries as pure re-export facades, and a third entry (the data
 * layer) puts `src/data/` in chunks of its own: an app that imports only the data layer then
 * never loads tfjs (see `sideEffects` in package.json and scripts/finish-build.mjs).
 */
export * from './index.js';

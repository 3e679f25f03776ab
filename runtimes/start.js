// `npm start` and `bun run start` share package.json's `start` script. bunfig.toml's
// `[run] bun = true` makes `node` mean Bun under `bun run`, so this picks the adapter of the
// runtime the user chose.
if (process.versions.bun) {
  // The bundle `npm run build` makes starts in about half the time of the sources; a clone
  // that was never built runs the sources.
  try {
    await import('../dist/bun.js');
  } catch (error) {
    // Only the bundle's own absence: the first module a "not found" message quotes is the missing one.
    const missing = /^[^"']*["']([^"']*)["']/.exec(String(error?.message))?.[1];
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !missing?.endsWith('dist/bun.js')) throw error;
    await import('./bun.ts');
  }
} else await import('../dist/node.js');

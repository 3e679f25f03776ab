// `npm start` and `bun run start` share package.json's `start` script. bunfig.toml's
// `[run] bun = true` makes `node` mean Bun under `bun run`, so this picks the adapter of the
// runtime the user chose.
if (process.versions.bun) await import('./bun.ts');
else await import('../dist/node.js');

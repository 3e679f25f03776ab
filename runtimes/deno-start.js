// `deno task start`: runs dist/deno.js, the bundle `npm run build` makes (it starts in half the
// time of the sources: no npm resolution, one module), or, in a clone that was never built
// (Deno alone, no install step), the sources with deno.json's `imports`. The specifiers are
// literals: Deno loads those without read permission.
try {
  await import('../dist/deno.js');
} catch (error) {
  // Only the bundle's own absence: the first module a "not found" message quotes is the missing one.
  const missing = /^[^"']*["']([^"']*)["']/.exec(String(error?.message))?.[1];
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !missing?.endsWith('dist/deno.js')) throw error;
  await import('./deno.ts');
}

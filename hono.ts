/**
 * The Hono middleware of `@rolldice/otel`: `app.use(httpRoute())` gives each request the route
 * Hono matched. Hono is an optional peer dependency, imported by this entry point only.
 *
 * @module
 */
export { httpRoute } from './src/hono.ts';

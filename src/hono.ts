/**
 * The Hono middleware (`@rolldice/otel/hono`): gives each request served by a Hono app its
 * route, from the route Hono matched. Hono is an optional peer dependency: only this entry
 * point imports it, never the core.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { setRoute } from './http/server.ts';

/**
 * A Hono middleware that sets the request's route (`http.route`, the span name
 * `{method} {route}`, and `http.route` on `http.server.request.duration`) from Hono's matched
 * route, e.g. `/users/:id`, once the app has answered. It makes no span itself: the SERVER
 * span is made by `instrument(app.fetch)` around the whole app, which also reads the client's
 * address from the runtime's argument and leaves it to Hono (`getConnInfo` works as before).
 * A request no route matched (a 404 from the middleware chain alone) gets no route, as the
 * semantic conventions ask.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { instrument, registerOTel } from '@rolldice/otel';
 * import { httpRoute } from '@rolldice/otel/hono';
 *
 * registerOTel({ serviceName: 'dice' });
 * const app = new Hono();
 * app.use(httpRoute());
 * app.get('/rolldice/:player', (c) => c.text(String(1 + Math.floor(Math.random() * 6))));
 * Deno.serve(instrument(app.fetch)); // Bun: Bun.serve({ fetch: instrument(app.fetch) })
 * ```
 */
export function httpRoute(): MiddlewareHandler {
  return async function httpRouteMiddleware(c, next) {
    try {
      await next();
    } finally {
      const route = matchedRoute(c);
      if (route !== undefined) setRoute(c.req.raw, route);
    }
  };
}

/** A route that any path under it matches, as `app.use()` registers: middleware, not an endpoint. */
function isCatchAll(route: { method: string; path: string }): boolean {
  return route.method === 'ALL' && (route.path === '*' || route.path.endsWith('/*'));
}

/**
 * The route template of the handler that answered; or, when a middleware answered (an
 * authentication check, say), the last endpoint the router matched for the request.
 */
function matchedRoute(c: Context): string | undefined {
  const routes = matchedRoutes(c);
  const answered = routes[c.req.routeIndex];
  if (answered !== undefined && !isCatchAll(answered)) return answered.path;
  for (let i = routes.length - 1; i >= 0; i--) {
    if (!isCatchAll(routes[i]!)) return routes[i]!.path;
  }
  return undefined;
}

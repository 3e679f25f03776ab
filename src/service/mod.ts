/**
 * The dice service: the OpenTelemetry "Getting Started" application, built on the library in
 * `mod.ts` alone. The adapters in `runtimes/` serve it on each runtime.
 */
export { badRequest, checkHost, createBadRequestLog } from './bad-requests.ts';
export { ConfigError, DEFAULT_PORT, parseServiceConfig, type ServiceConfig } from './config.ts';
export { createGracefulShutdown, type GracefulShutdownOptions } from './shutdown.ts';
export { type Service, startService, type StartServiceOptions } from './start.ts';

/** The address to print for a listener on every interface (`::` or `0.0.0.0`) or a given one. */
export function listeningUrl(hostname: string | undefined, port: number): string {
  const shown = hostname === undefined || hostname === '::' || hostname === '0.0.0.0'
    ? 'localhost'
    : hostname.includes(':')
    ? `[${hostname}]`
    : hostname;
  return `http://${shown}:${port}`;
}

import { parseConfig, type ResolvedConfig } from '../../mod.ts';

/** Everything the dice service reads from its environment, resolved once at start. */
export interface ServiceConfig {
  /** `PORT`: 0 to 65535, 0 for any free port. @default 8080 */
  port: number;
  /**
   * `HOST`: the interface to listen on. `undefined` means every interface, IPv6 and IPv4
   * where the machine has IPv6 (`::`), else IPv4 (`0.0.0.0`).
   */
  hostname: string | undefined;
  /** `ROLLDICE_UPSTREAM`: another dice service to take the rolls from, e.g. `http://dice-b:8080`. */
  upstream: string | undefined;
  /** The standard `OTEL_*` variables. */
  telemetry: ResolvedConfig;
}

/** A setting the service cannot start with; its message is the one line a user sees. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_PORT = 8080;

/**
 * Reads `PORT`, `HOST`, `ROLLDICE_UPSTREAM` and the `OTEL_*` variables. An invalid `OTEL_*`
 * value is warned about and ignored, as the OpenTelemetry specification asks; an invalid
 * service setting throws a {@link ConfigError} that names the variable, its value and the fix.
 */
export function parseServiceConfig(
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): ServiceConfig {
  const text = (name: string) => env[name]?.trim() || undefined;
  const port = text('PORT');
  const hostname = text('HOST');
  const upstream = text('ROLLDICE_UPSTREAM');
  return {
    port: port === undefined ? DEFAULT_PORT : parsePort(port),
    hostname: hostname === undefined ? undefined : parseHost(hostname),
    upstream: upstream === undefined ? undefined : checkUpstream(upstream, 'ROLLDICE_UPSTREAM'),
    telemetry: parseConfig(env, warn),
  };
}

function parsePort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (port >= 0 && port <= 65_535) return port;
  throw new ConfigError(`PORT is ${JSON.stringify(text)}: expected a port number from 0 to 65535, e.g. PORT=8080`);
}

// A DNS name, an IPv4 address, or an IPv6 literal with or without brackets.
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV6 = /^\[?([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\]?$/;

function parseHost(text: string): string {
  const v6 = IPV6.exec(text);
  if (v6 && (text.startsWith('[') === text.endsWith(']'))) return v6[1]!;
  if (HOSTNAME.test(text) && text.length <= 253) return text;
  throw new ConfigError(
    `HOST is ${
      JSON.stringify(text)
    }: expected a host name or IP address to listen on, e.g. HOST=127.0.0.1, or unset for every interface`,
  );
}

/** Refuses an upstream that cannot work, at start rather than on every roll. */
export function checkUpstream(url: string, variable = 'the upstream'): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below, with the fix.
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    throw new ConfigError(
      `${variable} is ${JSON.stringify(url)}: expected an absolute http or https URL, e.g. http://dice-b:8080`,
    );
  }
  return url;
}

/**
 * This package's name and version: the instrumentation scope of its spans and metrics, the
 * resource's `telemetry.distro.*` and the OTLP exporter's User-Agent all come from here.
 */

/** The package's name on npm and JSR; the one place to change it. */
export const PACKAGE_NAME = '@rolldice/otel';

/** The package's version. */
export const VERSION = '0.1.0';

/**
 * The OTLP exporter's User-Agent (specification/protocol/exporter.md, "User Agent": the
 * exporter, its language, its version). `@` and `/` are not allowed in an RFC 9110 product
 * token, so the package name is written `rolldice-otel`.
 */
export const USER_AGENT = `${
  PACKAGE_NAME.replace(/^@/, '').replace(/\//g, '-')
}/${VERSION} (OTLP exporter; JavaScript)`;

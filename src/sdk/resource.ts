import { SDK_INFO } from '@opentelemetry/core';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTR_SERVICE_NAME,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from '@opentelemetry/semantic-conventions';
import type { ResolvedConfig } from '../config.ts';
import type { RuntimeInfo } from '../runtime.ts';
import { PACKAGE_NAME, VERSION } from '../version.ts';

// The process.runtime.* names are not stable yet; the incubating entry point that exports
// them is too large to load at start-up for three strings.
const ATTR_PROCESS_RUNTIME_NAME = 'process.runtime.name';
const ATTR_PROCESS_RUNTIME_VERSION = 'process.runtime.version';
const ATTR_PROCESS_RUNTIME_DESCRIPTION = 'process.runtime.description';

/**
 * `process.runtime.name` for each executable: `nodejs` for Node, the value the official
 * process detector and the other JavaScript SDKs send, so that backends group them.
 */
const PROCESS_RUNTIME_NAMES: Record<RuntimeInfo['name'], string> = { node: 'nodejs', deno: 'deno', bun: 'bun' };
const DESCRIPTIONS: Record<RuntimeInfo['name'], string> = { node: 'Node.js', deno: 'Deno', bun: 'Bun' };

/**
 * The resource of every signal: the SDK's `telemetry.sdk.*`, this package as
 * `telemetry.distro.*`, the runtime, then `OTEL_RESOURCE_ATTRIBUTES`, then
 * `OTEL_SERVICE_NAME`, each winning over the ones before. Without a service name the spec's
 * `unknown_service` is used, suffixed with the executable's name.
 */
export function createResource(
  config: Pick<ResolvedConfig, 'serviceName' | 'resourceAttributes'>,
  runtime: RuntimeInfo | undefined,
): Resource {
  return resourceFromAttributes({
    [ATTR_SERVICE_NAME]: runtime === undefined ? 'unknown_service' : `unknown_service:${runtime.name}`,
    ...SDK_INFO,
    [ATTR_TELEMETRY_DISTRO_NAME]: PACKAGE_NAME,
    [ATTR_TELEMETRY_DISTRO_VERSION]: VERSION,
    ...(runtime === undefined ? {} : {
      [ATTR_PROCESS_RUNTIME_NAME]: PROCESS_RUNTIME_NAMES[runtime.name],
      [ATTR_PROCESS_RUNTIME_VERSION]: runtime.version,
      [ATTR_PROCESS_RUNTIME_DESCRIPTION]: runtime.description ?? DESCRIPTIONS[runtime.name],
    }),
    ...config.resourceAttributes,
    ...(config.serviceName ? { [ATTR_SERVICE_NAME]: config.serviceName } : {}),
  });
}

import { SDK_INFO } from '@opentelemetry/core';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { ResolvedConfig } from '../config.ts';
import type { RuntimeInfo } from '../runtime.ts';

// The process.runtime.* names are not stable yet; the incubating entry point that exports
// them is a 1 MB module, too much to load at start-up for two strings.
const ATTR_PROCESS_RUNTIME_NAME = 'process.runtime.name';
const ATTR_PROCESS_RUNTIME_VERSION = 'process.runtime.version';

/**
 * The resource of every signal: the SDK's `telemetry.sdk.*`, the runtime, then
 * `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, each winning over the ones before.
 * Without a service name the spec's `unknown_service` is used, suffixed with the runtime.
 */
export function createResource(
  config: Pick<ResolvedConfig, 'serviceName' | 'resourceAttributes'>,
  runtime: RuntimeInfo,
): Resource {
  return resourceFromAttributes({
    [ATTR_SERVICE_NAME]: `unknown_service:${runtime.name}`,
    ...SDK_INFO,
    [ATTR_PROCESS_RUNTIME_NAME]: runtime.name,
    [ATTR_PROCESS_RUNTIME_VERSION]: runtime.version,
    ...config.resourceAttributes,
    ...(config.serviceName ? { [ATTR_SERVICE_NAME]: config.serviceName } : {}),
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResource } from '../../../src/sdk/resource.ts';

test('createResource() lets OTEL_SERVICE_NAME win over OTEL_RESOURCE_ATTRIBUTES and names the runtime', () => {
  const runtime = { name: 'deno', version: '2.9.6' } as const;
  const fromAttributes = createResource(
    { resourceAttributes: { 'service.name': 'dice', 'service.version': '0.1.0' } },
    runtime,
  );
  assert.equal(fromAttributes.attributes['service.name'], 'dice');
  assert.equal(fromAttributes.attributes['service.version'], '0.1.0');
  assert.equal(fromAttributes.attributes['process.runtime.name'], 'deno');
  assert.equal(fromAttributes.attributes['process.runtime.version'], '2.9.6');
  assert.equal(fromAttributes.attributes['telemetry.sdk.name'], 'opentelemetry');
  assert.equal(fromAttributes.attributes['telemetry.sdk.language'], 'nodejs');
  const named = createResource({ serviceName: 'dice-eu', resourceAttributes: { 'service.name': 'dice' } }, runtime);
  assert.equal(named.attributes['service.name'], 'dice-eu');
  const unnamed = createResource({ resourceAttributes: {} }, runtime);
  assert.equal(unnamed.attributes['service.name'], 'unknown_service:deno');
});

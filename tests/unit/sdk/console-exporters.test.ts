import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createConsoleSpanExporter } from '../../../src/sdk/console-exporters.ts';

test('createConsoleSpanExporter() prints each batch as indented OTLP/JSON', async () => {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'dice' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  const span = provider.getTracer('rolldice').startSpan('roll', { attributes: { 'roll.value': 4 } });
  span.end();
  const printed: string[] = [];
  const exporter = createConsoleSpanExporter((text) => printed.push(text));
  const result = await new Promise((resolve) => exporter.export(memory.getFinishedSpans(), resolve));
  assert.deepEqual(result, { code: ExportResultCode.SUCCESS });
  assert.equal(printed.length, 1);
  assert.ok(printed[0]!.startsWith('{\n  "resourceSpans": ['), 'indented JSON');
  const doc = JSON.parse(printed[0]!);
  const printedSpan = doc.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(printedSpan.name, 'roll');
  assert.equal(printedSpan.traceId, span.spanContext().traceId);
  assert.deepEqual(printedSpan.attributes, [{ key: 'roll.value', value: { intValue: 4 } }]);
  assert.equal(doc.resourceSpans[0].scopeSpans[0].scope.name, 'rolldice');
});

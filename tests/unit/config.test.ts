import assert from 'node:assert/strict';
import { parseConfig, parseKeyValueList } from '../../src/config.ts';
import { test } from '../_harness.ts';

function parse(env: Record<string, string>) {
  const warnings: string[] = [];
  const config = parseConfig(env, (message) => warnings.push(message));
  return { config, warnings };
}

test('parseConfig() gives the specification defaults for an empty environment, with console exporters', () => {
  const { config, warnings } = parse({});
  assert.deepEqual(warnings, []);
  assert.equal(config.disabled, false);
  assert.equal(config.serviceName, undefined);
  assert.deepEqual(config.resourceAttributes, {});
  assert.deepEqual(config.propagators, ['tracecontext', 'baggage']);
  assert.equal(config.logLevel, 'info');
  assert.deepEqual(config.limits, { attributeValueLengthLimit: undefined, attributeCountLimit: 128 });
  assert.deepEqual(config.traces.exporters, ['console']);
  assert.deepEqual(config.metrics.exporters, ['console']);
  assert.deepEqual(config.logs.exporters, ['console']);
  assert.deepEqual(config.traces.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.deepEqual(config.traces.batch, { scheduledDelayMillis: 5000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 });
  assert.deepEqual(config.logs.batch, { scheduledDelayMillis: 1000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 });
  assert.equal(config.metrics.exportIntervalMillis, 60000);
  assert.equal(config.metrics.exportTimeoutMillis, 30000);
  assert.equal(config.metrics.temporalityPreference, 'cumulative');
  assert.deepEqual(config.traces.otlp, {
    url: 'http://localhost:4318/v1/traces',
    protocol: 'http/protobuf',
    headers: {},
    timeoutMillis: 10000,
    compression: 'none',
  });
  assert.equal(config.metrics.otlp.url, 'http://localhost:4318/v1/metrics');
  assert.equal(config.logs.otlp.url, 'http://localhost:4318/v1/logs');
});

test('parseConfig() switches a signal to OTLP when an endpoint is set and no exporter is named', () => {
  const general = parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).config;
  assert.deepEqual([general.traces.exporters, general.metrics.exporters, general.logs.exporters], [['otlp'], ['otlp'], ['otlp']]);
  const tracesOnly = parse({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).config;
  assert.deepEqual([tracesOnly.traces.exporters, tracesOnly.metrics.exporters, tracesOnly.logs.exporters], [['otlp'], ['console'], ['console']]);
  const named = parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_LOGS_EXPORTER: 'console' }).config;
  assert.deepEqual(named.logs.exporters, ['console']);
});

test('parseConfig() reads exporter lists, none, and skips unknown exporters with a warning', () => {
  const { config, warnings } = parse({
    OTEL_TRACES_EXPORTER: 'otlp, console',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'zipkin,OTLP',
  });
  assert.deepEqual(config.traces.exporters, ['otlp', 'console']);
  assert.deepEqual(config.metrics.exporters, []);
  assert.deepEqual(config.logs.exporters, ['otlp']);
  assert.deepEqual(warnings, ['OTEL_LOGS_EXPORTER: exporter "zipkin" is not supported, ignoring it']);
});

test('parseConfig() joins the general endpoint with the signal path and uses a signal endpoint as given', () => {
  for (const base of ['http://c:4318', 'http://c:4318/', 'http://c:4318//']) {
    assert.equal(parse({ OTEL_EXPORTER_OTLP_ENDPOINT: base }).config.traces.otlp.url, 'http://c:4318/v1/traces', base);
  }
  assert.equal(parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp' }).config.logs.otlp.url, 'https://c/otlp/v1/logs');
  const { config } = parse({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics:9090/custom',
  });
  assert.equal(config.metrics.otlp.url, 'http://metrics:9090/custom');
  assert.equal(config.traces.otlp.url, 'http://general:4318/v1/traces');
});

test('parseConfig() decodes headers, and a signal\'s own variables win over the general ones', () => {
  const { config, warnings } = parse({
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b%3Dc, tenant=t1',
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'api-key=logs',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '700',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
  });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.traces.otlp.headers, { 'api-key': 'a b=c', tenant: 't1' });
  assert.deepEqual(config.logs.otlp.headers, { 'api-key': 'logs' });
  assert.equal(config.traces.otlp.protocol, 'http/protobuf');
  assert.equal(config.metrics.otlp.protocol, 'http/json');
  assert.equal(config.traces.otlp.timeoutMillis, 2500);
  assert.equal(config.metrics.otlp.timeoutMillis, 700);
  assert.equal(config.logs.otlp.compression, 'gzip');
});

test('parseConfig() reads the resource, service name, sampler, limits and batch settings', () => {
  const { config, warnings } = parse({
    OTEL_SDK_DISABLED: 'TRUE',
    OTEL_SERVICE_NAME: 'dice',
    OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored, service.version=0.1.0,deployment.environment.name=a%2Cb',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100',
    OTEL_ATTRIBUTE_COUNT_LIMIT: '16',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BSP_MAX_QUEUE_SIZE: '100',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
    OTEL_BLRP_EXPORT_TIMEOUT: '900',
    OTEL_METRIC_EXPORT_INTERVAL: '3000',
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
    OTEL_PROPAGATORS: 'baggage',
    OTEL_LOG_LEVEL: 'debug',
  });
  assert.deepEqual(warnings, []);
  assert.equal(config.disabled, true);
  assert.equal(config.serviceName, 'dice');
  assert.deepEqual(config.resourceAttributes, {
    'service.name': 'ignored',
    'service.version': '0.1.0',
    'deployment.environment.name': 'a,b',
  });
  assert.deepEqual(config.traces.sampler, { name: 'parentbased_traceidratio', ratio: 0.25 });
  assert.deepEqual(config.limits, { attributeValueLengthLimit: 100, attributeCountLimit: 16 });
  assert.deepEqual(config.traces.batch, { scheduledDelayMillis: 200, exportTimeoutMillis: 30000, maxQueueSize: 100, maxExportBatchSize: 50 });
  assert.equal(config.logs.batch.exportTimeoutMillis, 900);
  assert.equal(config.metrics.exportIntervalMillis, 3000);
  assert.equal(config.metrics.temporalityPreference, 'delta');
  assert.deepEqual(config.propagators, ['baggage']);
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(parse({ OTEL_PROPAGATORS: 'none' }).config.propagators, []);
});

test('parseConfig() answers every bad value with one warning naming it and the value used, never a throw', () => {
  const cases: [string, string, string][] = [
    ['OTEL_SDK_DISABLED', 'yes', 'Cannot parse OTEL_SDK_DISABLED: current value is "yes", using false'],
    ['OTEL_BSP_SCHEDULE_DELAY', 'abc', 'Cannot parse OTEL_BSP_SCHEDULE_DELAY: current value is "abc", using 5000'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '-1', 'Cannot parse OTEL_BSP_MAX_QUEUE_SIZE: current value is "-1", using 2048'],
    ['OTEL_BLRP_SCHEDULE_DELAY', '1.5', 'Cannot parse OTEL_BLRP_SCHEDULE_DELAY: current value is "1.5", using 1000'],
    ['OTEL_METRIC_EXPORT_INTERVAL', '0', 'Cannot parse OTEL_METRIC_EXPORT_INTERVAL: current value is "0", using 60000'],
    ['OTEL_ATTRIBUTE_COUNT_LIMIT', 'many', 'Cannot parse OTEL_ATTRIBUTE_COUNT_LIMIT: current value is "many", using 128'],
    ['OTEL_TRACES_SAMPLER', 'sometimes', 'Cannot parse OTEL_TRACES_SAMPLER: current value is "sometimes", using parentbased_always_on'],
    ['OTEL_LOG_LEVEL', 'loud', 'Cannot parse OTEL_LOG_LEVEL: current value is "loud", using info'],
    ['OTEL_PROPAGATORS', 'tracecontext,b3', 'OTEL_PROPAGATORS: propagator "b3" is not supported, ignoring it'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported, using http/protobuf'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'br', 'Cannot parse OTEL_EXPORTER_OTLP_COMPRESSION: current value is "br", using none'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '10s', 'Cannot parse OTEL_EXPORTER_OTLP_TIMEOUT: current value is "10s", using 10000'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'collector:4318', 'Cannot parse OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: current value is "collector:4318", using http://localhost:4318/v1/traces'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'a=%E0%A4%A', 'Cannot parse OTEL_RESOURCE_ATTRIBUTES: current value is "a=%E0%A4%A", ignoring all of it'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'novalue', 'Cannot parse OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs with percent-encoded values, sending no extra headers'],
  ];
  for (const [name, value, warning] of cases) {
    const { warnings } = parse({ [name]: value });
    assert.deepEqual(warnings, [warning], `${name}=${value}`);
  }
  const sampler = parse({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' });
  assert.deepEqual(sampler.config.traces.sampler, { name: 'traceidratio', ratio: 1 });
  assert.deepEqual(sampler.warnings, ['Cannot parse OTEL_TRACES_SAMPLER_ARG: current value is "2", using 1']);
  const batch = parse({ OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' });
  assert.equal(batch.config.traces.batch.maxExportBatchSize, 10);
  assert.equal(batch.warnings.length, 1);
});

test('parseConfig() treats empty values as unset', () => {
  const { config, warnings } = parse({ OTEL_SERVICE_NAME: '', OTEL_BSP_SCHEDULE_DELAY: ' ', OTEL_TRACES_EXPORTER: '' });
  assert.deepEqual(warnings, []);
  assert.equal(config.serviceName, undefined);
  assert.equal(config.traces.batch.scheduledDelayMillis, 5000);
  assert.deepEqual(config.traces.exporters, ['console']);
});

test('parseKeyValueList() rejects a member without a key or with a broken percent-encoding', () => {
  assert.deepEqual(parseKeyValueList('a=1,b=%41'), { a: '1', b: 'A' });
  assert.equal(parseKeyValueList('=1'), undefined);
  assert.equal(parseKeyValueList('a=%'), undefined);
  assert.equal(parseKeyValueList('a'), undefined);
});

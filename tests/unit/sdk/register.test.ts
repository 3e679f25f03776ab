/**
 * registerOTel(): one call, the OTEL_* variables of the runtime, options over them, OTLP over
 * fetch to the test receiver, no console output, and no second SDK beside another one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import process from 'node:process';
import { diag, type DiagLogger, DiagLogLevel, metrics, SpanKind, trace } from '@opentelemetry/api';
import { instrument, registerOTel, TelemetryConflictError } from '../../../mod.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../_otlp-receiver.ts';

const runtimeName = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'nodejs';

let receiver: OtlpReceiver;
before(async () => (receiver = await startOtlpReceiver()));
after(() => receiver.close());

/** Serves one request through instrument() with the global providers, as a user's server would. */
async function serveOne(path = '/rolldice') {
  const handler = instrument((_request: Request) => new Response('4'));
  await handler(new Request(`http://localhost${path}`));
}

/** Console output made while `fn` runs. */
async function consoleDuring(fn: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const methods = ['log', 'error', 'warn', 'info', 'debug'] as const;
  const saved = methods.map((name) => console[name]);
  for (const name of methods) console[name] = (...args: unknown[]) => void printed.push(args.join(' '));
  try {
    await fn();
  } finally {
    methods.forEach((name, i) => (console[name] = saved[i]!));
  }
  return printed;
}

test('registerOTel() exports over OTLP with options winning over the environment, and names runtime and package', async () => {
  receiver.requests.length = 0;
  const otel = registerOTel({
    serviceName: 'from-code',
    env: { OTEL_SERVICE_NAME: 'from-env', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test' },
    otlp: { endpoint: receiver.url },
  });
  await serveOne();
  await otel.shutdown();
  const [span] = receiver.spans();
  assert.equal(span.name, 'GET');
  assert.equal(span.kind, SpanKind.SERVER + 1, 'OTLP numbers kinds from 1');
  assert.deepEqual(span.scope, { name: '@rolldice/otel', version: '0.1.0' });
  const resource = span.resource;
  assert.equal(resource['service.name'], 'from-code');
  assert.equal(resource['deployment.environment.name'], 'test');
  assert.equal(resource['process.runtime.name'], runtimeName);
  assert.match(String(resource['process.runtime.version']), /^\d+\.\d+\.\d+/);
  assert.equal(typeof resource['process.runtime.description'], 'string');
  assert.equal(resource['telemetry.distro.name'], '@rolldice/otel');
  assert.equal(resource['telemetry.distro.version'], '0.1.0');
  assert.ok(receiver.metrics().some((m) => m.name === 'http.server.request.duration'));
  for (const request of receiver.requests) {
    assert.equal(request.headers['user-agent'], 'rolldice-otel/0.1.0 (OTLP exporter; JavaScript)');
  }
});

test("registerOTel() reads the runtime's own environment when given none, a service name as its only argument", async () => {
  receiver.requests.length = 0;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_RESOURCE_ATTRIBUTES = 'team=dice';
  try {
    const otel = registerOTel('shorthand');
    await serveOne();
    await otel.shutdown();
  } finally {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_RESOURCE_ATTRIBUTES;
  }
  const [span] = receiver.spans();
  assert.equal(span.resource['service.name'], 'shorthand');
  assert.equal(span.resource.team, 'dice');
});

test('registerOTel() sends with the fetch it is given, to OTLP by default, printing nothing', async () => {
  receiver.requests.length = 0;
  const urls: string[] = [];
  const printed = await consoleDuring(async () => {
    const otel = registerOTel({
      env: {},
      otlp: {
        endpoint: receiver.url,
        fetch: (input, init) => {
          urls.push(String(input));
          return fetch(input, init);
        },
      },
    });
    await serveOne();
    await otel.shutdown();
  });
  assert.deepEqual([...new Set(urls)].sort(), [`${receiver.url}/v1/metrics`, `${receiver.url}/v1/traces`]);
  assert.equal(receiver.spans().length, 1);
  assert.deepEqual(printed, []);
});

test('registerOTel() leaves the global diag logger alone and reports a bad variable through it', async () => {
  const seen: string[] = [];
  const line = (message: string) => void seen.push(message);
  const logger: DiagLogger = { error: line, warn: line, info: line, debug: line, verbose: line };
  diag.setLogger(logger, DiagLogLevel.WARN);
  try {
    const printed = await consoleDuring(async () => {
      const otel = registerOTel({ env: { OTEL_BSP_SCHEDULE_DELAY: 'soon' }, otlp: { endpoint: receiver.url } });
      diag.warn('still mine');
      await otel.shutdown();
    });
    assert.deepEqual(printed, []);
    assert.deepEqual(seen, [
      'Cannot parse OTEL_BSP_SCHEDULE_DELAY: current value is "soon", using 5000 (expected an integer from 0 to 2147483647)',
      'still mine',
    ]);
  } finally {
    diag.disable();
  }
});

test('registerOTel() gives its warnings to onWarning when one is given', async () => {
  const warnings: string[] = [];
  const otel = registerOTel({
    env: { OTEL_TRACES_SAMPLER: 'sometimes' },
    otlp: { endpoint: receiver.url },
    onWarning: (message) => warnings.push(message),
  });
  await otel.shutdown();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^Cannot parse OTEL_TRACES_SAMPLER: current value is "sometimes"/);
});

test('registerOTel() refuses, in one line and registering nothing, beside a provider another SDK registered', () => {
  const foreign = { getTracer: () => trace.getTracerProvider().getTracer('foreign') };
  assert.equal(trace.setGlobalTracerProvider(foreign), true);
  try {
    assert.throws(
      () => registerOTel({ otlp: { endpoint: receiver.url } }),
      (error: unknown) => {
        assert.ok(error instanceof TelemetryConflictError);
        assert.doesNotMatch(error.message, /\n/);
        assert.match(error.message, /^A global tracer provider is already registered/);
        return true;
      },
    );
    assert.equal(
      metrics.getMeterProvider().constructor.name,
      'NoopMeterProvider',
      'no meter provider was registered',
    );
  } finally {
    trace.disable();
  }
});

test('registerOTel() names BUN_OTEL when Bun registered its own providers', {
  skip: runtimeName !== 'bun' && 'Bun only',
}, () => {
  const foreign = { getTracer: () => trace.getTracerProvider().getTracer('bun') };
  trace.setGlobalTracerProvider(foreign);
  process.env.BUN_OTEL = '1';
  try {
    assert.throws(
      () => registerOTel({ otlp: { endpoint: receiver.url } }),
      /^TelemetryConflictError: BUN_OTEL=1 turns on Bun's built-in OpenTelemetry/,
    );
  } finally {
    delete process.env.BUN_OTEL;
    trace.disable();
  }
});

test('registerOTel() can be called again once the first one is shut down, not before', async () => {
  const first = registerOTel({ env: {}, otlp: { endpoint: receiver.url } });
  assert.throws(() => registerOTel({ env: {}, otlp: { endpoint: receiver.url } }), TelemetryConflictError);
  await first.shutdown();
  const second = registerOTel({ env: {}, otlp: { endpoint: receiver.url } });
  await second.shutdown();
});

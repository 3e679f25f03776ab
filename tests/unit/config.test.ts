import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, parseKeyValueList, type ResolvedConfig } from '../../src/config.ts';

type Env = Record<string, string>;

function parse(env: Env): { config: ResolvedConfig; warnings: string[] } {
  const warnings: string[] = [];
  const config = parseConfig(env, (message) => warnings.push(message));
  return { config, warnings };
}

/** The one shape every warning has: the variable, its value (or a note) and what is used. */
const WARNING =
  /^Cannot parse ([A-Z_]+): current value is (".*"|not shown as it may hold credentials), using (.+?)(?: \((.+)\))?$/;

/** Parses `env`, asserts exactly one well-formed warning for `name`, and returns the config. */
function parseWithOneWarning(env: Env, name: string, using: string): ResolvedConfig {
  const { config, warnings } = parse(env);
  const label = JSON.stringify(env);
  assert.equal(warnings.length, 1, `${label}: ${JSON.stringify(warnings)}`);
  const match = WARNING.exec(warnings[0]!);
  assert.ok(match, `${label}: ${warnings[0]}`);
  assert.equal(match[1], name, label);
  if (match[2] !== 'not shown as it may hold credentials') assert.equal(match[2], JSON.stringify(env[name]), label);
  assert.equal(match[3], using, label);
  return config;
}

const MAX = 2_147_483_647;
const DEFAULT_OTLP = {
  protocol: 'http/protobuf',
  headers: {},
  timeoutMillis: 10_000,
  compression: 'none',
} as const;
const DEFAULTS: ResolvedConfig = {
  disabled: false,
  serviceName: undefined,
  resourceAttributes: {},
  propagators: ['tracecontext', 'baggage'],
  logLevel: 'info',
  limits: { attributeValueLengthLimit: undefined, attributeCountLimit: 128 },
  traces: {
    exporters: ['console'],
    otlp: { url: 'http://localhost:4318/v1/traces', ...DEFAULT_OTLP },
    sampler: { name: 'parentbased_always_on', ratio: 1 },
    batch: { scheduledDelayMillis: 5000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
  },
  metrics: {
    exporters: ['console'],
    otlp: { url: 'http://localhost:4318/v1/metrics', ...DEFAULT_OTLP },
    exportIntervalMillis: 60_000,
    exportTimeoutMillis: 30_000,
    temporalityPreference: 'cumulative',
  },
  logs: {
    exporters: ['console'],
    otlp: { url: 'http://localhost:4318/v1/logs', ...DEFAULT_OTLP },
    batch: { scheduledDelayMillis: 1000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
  },
  delivery: { bufferBytes: 32 * 1024 * 1024, shutdownFlushMillis: 5000 },
};

/** Where each numeric variable lands in the config, its default, and its smallest valid value. */
const NUMBERS: [
  name: string,
  read: (config: ResolvedConfig) => number | undefined,
  fallback: number | undefined,
  min: 0 | 1,
  timeout?: true,
][] = [
  ['OTEL_BSP_SCHEDULE_DELAY', (c) => c.traces.batch.scheduledDelayMillis, 5000, 0],
  ['OTEL_BSP_EXPORT_TIMEOUT', (c) => c.traces.batch.exportTimeoutMillis, 30_000, 0, true],
  ['OTEL_BSP_MAX_QUEUE_SIZE', (c) => c.traces.batch.maxQueueSize, 2048, 1],
  ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', (c) => c.traces.batch.maxExportBatchSize, 512, 1],
  ['OTEL_BLRP_SCHEDULE_DELAY', (c) => c.logs.batch.scheduledDelayMillis, 1000, 0],
  ['OTEL_BLRP_EXPORT_TIMEOUT', (c) => c.logs.batch.exportTimeoutMillis, 30_000, 0, true],
  ['OTEL_BLRP_MAX_QUEUE_SIZE', (c) => c.logs.batch.maxQueueSize, 2048, 1],
  ['OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', (c) => c.logs.batch.maxExportBatchSize, 512, 1],
  ['OTEL_METRIC_EXPORT_INTERVAL', (c) => c.metrics.exportIntervalMillis, 60_000, 1],
  ['OTEL_METRIC_EXPORT_TIMEOUT', (c) => c.metrics.exportTimeoutMillis, 30_000, 0, true],
  ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', (c) => c.limits.attributeValueLengthLimit, undefined, 0],
  ['OTEL_ATTRIBUTE_COUNT_LIMIT', (c) => c.limits.attributeCountLimit, 128, 0],
  ['OTEL_EXPORTER_OTLP_TIMEOUT', (c) => c.traces.otlp.timeoutMillis, 10_000, 0, true],
  ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', (c) => c.traces.otlp.timeoutMillis, 10_000, 0, true],
  ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', (c) => c.metrics.otlp.timeoutMillis, 10_000, 0, true],
  ['OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', (c) => c.logs.otlp.timeoutMillis, 10_000, 0, true],
  ['ROLLDICE_OTLP_BUFFER_BYTES', (c) => c.delivery.bufferBytes, 32 * 1024 * 1024, 0],
  ['ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT', (c) => c.delivery.shutdownFlushMillis, 5000, 0, true],
];

test('parseConfig() gives the specification defaults, and console exporters, for an empty environment', () => {
  const { config, warnings } = parse({});
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, DEFAULTS);
  // Fully resolved: even the fields without a value are present.
  assert.ok('serviceName' in config && 'attributeValueLengthLimit' in config.limits);
});

test('parseConfig() treats empty and blank values as unset, without warnings', () => {
  const env: Env = {};
  for (const [name] of NUMBERS) env[name] = '';
  for (
    const name of [
      'OTEL_SDK_DISABLED',
      'OTEL_SERVICE_NAME',
      'OTEL_RESOURCE_ATTRIBUTES',
      'OTEL_PROPAGATORS',
      'OTEL_TRACES_SAMPLER',
    ]
  ) {
    env[name] = ' ';
  }
  for (
    const name of [
      'OTEL_TRACES_EXPORTER',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
      'OTEL_EXPORTER_OTLP_HEADERS',
    ]
  ) {
    env[name] = '';
  }
  const { config, warnings } = parse(env);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, DEFAULTS);
});

test('parseConfig() reads only the variables it knows, by plain property access, and never changes env', () => {
  const read = new Set<string>();
  const env = new Proxy(Object.freeze({ OTEL_SERVICE_NAME: 'dice' }) as Env, {
    get: (target, name) => {
      if (typeof name === 'string') read.add(name);
      return Reflect.get(target, name);
    },
    // The Deno adapter's env answers property reads only.
    has: () => assert.fail('parseConfig() must not use `in` on env'),
    ownKeys: () => assert.fail('parseConfig() must not enumerate env'),
  });
  assert.equal(parseConfig(env, () => assert.fail('no warning expected')).serviceName, 'dice');
  assert.ok(read.size > 30, `read ${read.size} variables`);
  for (const name of read) assert.match(name, /^(OTEL|ROLLDICE)_[A-Z_]+$/);
});

test('parseConfig() reads OTEL_SDK_DISABLED as true only for a case-insensitive "true"', () => {
  for (const value of ['true', 'TRUE', 'True', ' true ']) {
    assert.deepEqual(
      parse({ OTEL_SDK_DISABLED: value }),
      { config: { ...DEFAULTS, disabled: true }, warnings: [] },
      value,
    );
  }
  for (const value of ['false', 'FALSE', 'False']) {
    assert.deepEqual(parse({ OTEL_SDK_DISABLED: value }), { config: DEFAULTS, warnings: [] }, value);
  }
  for (const value of ['yes', '1', 'on', 't', 'truee', 'enabled']) {
    assert.equal(parseWithOneWarning({ OTEL_SDK_DISABLED: value }, 'OTEL_SDK_DISABLED', 'false').disabled, false);
  }
});

test('parseConfig() reads OTEL_SERVICE_NAME trimmed, leaving the resource attributes alone', () => {
  const { config, warnings } = parse({ OTEL_SERVICE_NAME: ' dice ', OTEL_RESOURCE_ATTRIBUTES: 'service.name=other' });
  assert.deepEqual(warnings, []);
  assert.equal(config.serviceName, 'dice');
  // Which one wins is the resource's business (OTEL_SERVICE_NAME does): both are kept here.
  assert.deepEqual(config.resourceAttributes, { 'service.name': 'other' });
});

test('parseConfig() reads every numeric variable as a non-negative integer up to 2^31 - 1', () => {
  for (const [name, read, , min, isTimeout] of NUMBERS) {
    const valid: [string, number][] = [['1', 1], ['017', 17], [' 250 ', 250], ['2047', 2047]];
    if (min === 0) valid.push(['0', isTimeout ? MAX : 0]);
    // A bigger maximum only because OTEL_*_MAX_EXPORT_BATCH_SIZE may not exceed the queue size.
    const env = (value: string): Env => ({
      OTEL_BSP_MAX_QUEUE_SIZE: String(MAX),
      OTEL_BLRP_MAX_QUEUE_SIZE: String(MAX),
      [name]: value,
    });
    valid.push([String(MAX), MAX]);
    for (const [value, expected] of valid) {
      const { config, warnings } = parse(env(value));
      assert.deepEqual(warnings, [], `${name}=${value}`);
      assert.equal(read(config), expected, `${name}=${value}`);
    }
  }
});

test('parseConfig() answers a bad number with one warning and the default', () => {
  const bad = [
    'abc',
    '-1',
    '1.5',
    '1e3',
    '0x10',
    '+5',
    '10s',
    '1_000',
    '5 000',
    String(MAX + 1),
    '99999999999999999999',
    'Infinity',
    'NaN',
  ];
  for (const [name, read, fallback, min] of NUMBERS) {
    for (const value of min === 1 ? [...bad, '0'] : bad) {
      const config = parseWithOneWarning(
        { [name]: value },
        name,
        fallback === undefined ? 'no limit' : String(fallback),
      );
      assert.equal(read(config), fallback, `${name}=${value}`);
    }
  }
});

test('parseConfig() treats a zero timeout as indefinite, the longest timer there is', () => {
  const { config } = parse({
    OTEL_BSP_EXPORT_TIMEOUT: '0',
    OTEL_METRIC_EXPORT_TIMEOUT: '0',
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '0',
  });
  assert.equal(config.traces.batch.exportTimeoutMillis, MAX);
  assert.equal(config.metrics.exportTimeoutMillis, MAX);
  assert.equal(config.logs.otlp.timeoutMillis, MAX);
  assert.equal(config.traces.otlp.timeoutMillis, 10_000);
});

test('parseConfig() keeps a batch no bigger than its queue, warning only about a configured batch size', () => {
  const clamped = parseWithOneWarning(
    { OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' },
    'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    '100',
  );
  assert.deepEqual(clamped.traces.batch, {
    scheduledDelayMillis: 5000,
    exportTimeoutMillis: 30_000,
    maxQueueSize: 100,
    maxExportBatchSize: 100,
  });
  // The default batch size (512) quietly follows a smaller queue; nothing the user set was wrong.
  assert.deepEqual(parse({ OTEL_BLRP_MAX_QUEUE_SIZE: '64' }), {
    config: {
      ...DEFAULTS,
      logs: { ...DEFAULTS.logs, batch: { ...DEFAULTS.logs.batch, maxQueueSize: 64, maxExportBatchSize: 64 } },
    },
    warnings: [],
  });
  const equal = parse({ OTEL_BLRP_MAX_QUEUE_SIZE: '64', OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '64' });
  assert.deepEqual([equal.config.logs.batch.maxExportBatchSize, equal.warnings], [64, []]);
  // A bad batch size falls back to the default, itself cut to the queue: one warning, naming 10.
  const fallback = parseWithOneWarning(
    { OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'x' },
    'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    '10',
  );
  assert.equal(fallback.traces.batch.maxExportBatchSize, 10);
  // A bad queue size falls back to 2048, and the batch size is checked against that.
  const queue = parseWithOneWarning(
    { OTEL_BSP_MAX_QUEUE_SIZE: '0', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1000' },
    'OTEL_BSP_MAX_QUEUE_SIZE',
    '2048',
  );
  assert.deepEqual([queue.traces.batch.maxQueueSize, queue.traces.batch.maxExportBatchSize], [2048, 1000]);
});

test('parseConfig() reads the enum variables case-insensitively and trimmed', () => {
  const cases: [name: string, values: string[], read: (config: ResolvedConfig) => string, fallback: string][] = [
    ['OTEL_LOG_LEVEL', ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'], (c) => c.logLevel, 'info'],
    [
      'OTEL_TRACES_SAMPLER',
      [
        'always_on',
        'always_off',
        'traceidratio',
        'parentbased_always_on',
        'parentbased_always_off',
        'parentbased_traceidratio',
      ],
      (c) => c.traces.sampler.name,
      'parentbased_always_on',
    ],
    [
      'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
      ['cumulative', 'delta', 'lowmemory'],
      (c) => c.metrics.temporalityPreference,
      'cumulative',
    ],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', ['gzip', 'none'], (c) => c.logs.otlp.compression, 'none'],
    ['OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', ['gzip', 'none'], (c) => c.logs.otlp.compression, 'none'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', ['http/protobuf', 'http/json'], (c) => c.metrics.otlp.protocol, 'http/protobuf'],
    [
      'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
      ['http/protobuf', 'http/json'],
      (c) => c.metrics.otlp.protocol,
      'http/protobuf',
    ],
  ];
  for (const [name, values, read, fallback] of cases) {
    for (const value of values) {
      for (const spelling of [value, value.toUpperCase(), ` ${value}\t`]) {
        const { config, warnings } = parse({ [name]: spelling });
        assert.deepEqual([read(config), warnings], [value, []], `${name}=${spelling}`);
      }
    }
    for (const value of ['bogus', `${values[0]}x`, `${values[0]},${values[1]}`]) {
      assert.equal(read(parseWithOneWarning({ [name]: value }, name, fallback)), fallback, `${name}=${value}`);
    }
  }
  // The spec's other protocol, sampler and level names are not available here.
  for (
    const [name, value, fallback] of [
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'http/protobuf'],
      ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'GRPC', 'http/protobuf'],
      ['OTEL_TRACES_SAMPLER', 'jaeger_remote', 'parentbased_always_on'],
      ['OTEL_TRACES_SAMPLER', 'xray', 'parentbased_always_on'],
      ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd', 'none'],
      ['OTEL_LOG_LEVEL', 'warning', 'info'],
    ] as const
  ) {
    parseWithOneWarning({ [name]: value }, name, fallback);
  }
});

test('parseConfig() reads OTEL_TRACES_SAMPLER_ARG as a ratio for the ratio samplers only', () => {
  for (
    const [value, ratio] of [['0', 0], ['1', 1], ['0.25', 0.25], ['.5', 0.5], ['1.0', 1], ['1e-1', 0.1], [
      ' 0.75 ',
      0.75,
    ]] as const
  ) {
    for (const name of ['traceidratio', 'parentbased_traceidratio'] as const) {
      const { config, warnings } = parse({ OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: value });
      assert.deepEqual([config.traces.sampler, warnings], [{ name, ratio }, []], `${name} ${value}`);
    }
  }
  for (const value of ['-0.1', '1.5', '2', 'half', '25%', 'NaN', 'Infinity', '0x1', '1/4']) {
    const config = parseWithOneWarning(
      { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: value },
      'OTEL_TRACES_SAMPLER_ARG',
      '1',
    );
    assert.deepEqual(config.traces.sampler, { name: 'traceidratio', ratio: 1 });
  }
  // Without a ratio sampler the argument is not used, so it is not judged either.
  for (
    const env of [{ OTEL_TRACES_SAMPLER_ARG: '0.5' }, {
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_TRACES_SAMPLER_ARG: 'junk',
    }] as Env[]
  ) {
    const { config, warnings } = parse(env);
    assert.deepEqual([config.traces.sampler.ratio, warnings], [1, []]);
  }
  // A bad sampler falls back to parentbased_always_on, which takes no argument: one warning.
  parseWithOneWarning(
    { OTEL_TRACES_SAMPLER: 'ratio', OTEL_TRACES_SAMPLER_ARG: 'junk' },
    'OTEL_TRACES_SAMPLER',
    'parentbased_always_on',
  );
});

test('parseConfig() reads OTEL_PROPAGATORS in order, deduplicated, with none alone meaning none', () => {
  const valid: [string, string[]][] = [
    ['tracecontext,baggage', ['tracecontext', 'baggage']],
    ['baggage,tracecontext', ['baggage', 'tracecontext']],
    ['baggage', ['baggage']],
    [' TraceContext , ', ['tracecontext']],
    ['tracecontext,tracecontext,baggage,baggage', ['tracecontext', 'baggage']],
    ['none', []],
    ['NONE', []],
  ];
  for (const [value, propagators] of valid) {
    const { config, warnings } = parse({ OTEL_PROPAGATORS: value });
    assert.deepEqual([config.propagators, warnings], [propagators, []], value);
  }
  const invalid: [string, string[], string][] = [
    ['tracecontext,b3', ['tracecontext'], 'tracecontext'],
    ['b3multi,baggage,jaeger', ['baggage'], 'baggage'],
    ['none,baggage', ['baggage'], 'baggage'],
    ['none,b3', [], 'none'],
    // Nothing usable: the setting is ignored, as an unrecognised enum value is.
    ['b3', ['tracecontext', 'baggage'], 'tracecontext,baggage'],
    ['xray,ottrace', ['tracecontext', 'baggage'], 'tracecontext,baggage'],
    [',', ['tracecontext', 'baggage'], 'tracecontext,baggage'],
  ];
  for (const [value, propagators, using] of invalid) {
    assert.deepEqual(
      parseWithOneWarning({ OTEL_PROPAGATORS: value }, 'OTEL_PROPAGATORS', using).propagators,
      propagators,
      value,
    );
  }
  assert.match(
    parse({ OTEL_PROPAGATORS: 'tracecontext,b3,jaeger' }).warnings[0]!,
    /\(b3 is not supported; jaeger is not supported\)$/,
  );
});

test('parseConfig() reads the exporter lists of the three signals', () => {
  const signals = [['OTEL_TRACES_EXPORTER', 'traces'], ['OTEL_METRICS_EXPORTER', 'metrics'], [
    'OTEL_LOGS_EXPORTER',
    'logs',
  ]] as const;
  const valid: [string, string[]][] = [
    ['otlp', ['otlp']],
    ['console', ['console']],
    ['otlp,console', ['otlp', 'console']],
    [' Console , OTLP ,console', ['console', 'otlp']],
    ['none', []],
  ];
  const invalid: [string, string[], string][] = [
    ['zipkin', ['console'], 'console'],
    ['prometheus,otlp', ['otlp'], 'otlp'],
    ['otlp/stdout', ['console'], 'console'],
    // The spec's deprecated alias of console, which it asks new implementations not to support.
    ['logging', ['console'], 'console'],
    ['logging,otlp', ['otlp'], 'otlp'],
    ['none,console', ['console'], 'console'],
    ['none,zipkin', [], 'none'],
  ];
  for (const [name, signal] of signals) {
    for (const [value, exporters] of valid) {
      const { config, warnings } = parse({ [name]: value });
      assert.deepEqual([config[signal].exporters, warnings], [exporters, []], `${name}=${value}`);
    }
    for (const [value, exporters, using] of invalid) {
      assert.deepEqual(
        parseWithOneWarning({ [name]: value }, name, using)[signal].exporters,
        exporters,
        `${name}=${value}`,
      );
    }
  }
  const { warnings } = parse({ OTEL_LOGS_EXPORTER: 'console,logging,none' });
  assert.match(
    warnings[0]!,
    /\(logging is a deprecated name of console and not supported; none is ignored next to other exporters\)$/,
  );
});

test('parseConfig() defaults a signal to console, or to otlp when an OTLP endpoint is configured for it', () => {
  const exporters = (env: Env) => {
    const { config } = parse(env);
    return [config.traces.exporters, config.metrics.exporters, config.logs.exporters];
  };
  assert.deepEqual(exporters({}), [['console'], ['console'], ['console']]);
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), [['otlp'], ['otlp'], ['otlp']]);
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), [
    ['otlp'],
    ['console'],
    ['console'],
  ]);
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4318/v1/metrics' }), [['console'], [
    'otlp',
  ], ['console']]);
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://c:4318/v1/logs' }), [
    ['console'],
    ['console'],
    ['otlp'],
  ]);
  // A named exporter always wins, and an endpoint that is not a URL configures nothing.
  assert.deepEqual(
    exporters({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_LOGS_EXPORTER: 'console',
      OTEL_METRICS_EXPORTER: 'none',
    }),
    [['otlp'], [], ['console']],
  );
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), [['console'], ['console'], [
    'console',
  ]]);
  // Other OTLP settings are not an endpoint.
  assert.deepEqual(exporters({ OTEL_EXPORTER_OTLP_HEADERS: 'a=b', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), [
    ['console'],
    ['console'],
    ['console'],
  ]);
  // An exporter list with nothing usable falls back to the same default.
  const fallback = parseWithOneWarning(
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'zipkin' },
    'OTEL_TRACES_EXPORTER',
    'otlp',
  );
  assert.deepEqual(fallback.traces.exporters, ['otlp']);
});

test('parseConfig() appends the signal path to the general endpoint with exactly one slash', () => {
  const cases: [string, string][] = [
    ['http://c:4318', 'http://c:4318/v1/traces'],
    ['http://c:4318/', 'http://c:4318/v1/traces'],
    ['http://c:4318//', 'http://c:4318/v1/traces'],
    ['https://c', 'https://c/v1/traces'],
    ['http://c:4318/mycollector', 'http://c:4318/mycollector/v1/traces'],
    ['http://c:4318/mycollector/', 'http://c:4318/mycollector/v1/traces'],
    ['HTTP://C:4318', 'HTTP://C:4318/v1/traces'],
    ['http://[::1]:4318', 'http://[::1]:4318/v1/traces'],
    ['http://c:4318/base?tenant=a', 'http://c:4318/base/v1/traces?tenant=a'],
  ];
  for (const [base, url] of cases) {
    const { config, warnings } = parse({ OTEL_EXPORTER_OTLP_ENDPOINT: base });
    assert.deepEqual(warnings, [], base);
    assert.equal(config.traces.otlp.url, url, base);
    assert.equal(config.metrics.otlp.url, url.replace('/v1/traces', '/v1/metrics'), base);
    assert.equal(config.logs.otlp.url, url.replace('/v1/traces', '/v1/logs'), base);
  }
});

test("parseConfig() uses a signal's own endpoint as given, giving only an empty path the root", () => {
  const cases: [string, string][] = [
    ['http://metrics:9090/custom', 'http://metrics:9090/custom'],
    ['https://c.example.com/v1/metrics/', 'https://c.example.com/v1/metrics/'],
    ['http://c:4318', 'http://c:4318/'],
    ['http://c:4318?x=1', 'http://c:4318/?x=1'],
    ['http://c:4318/a//b', 'http://c:4318/a//b'],
  ];
  for (const [endpoint, url] of cases) {
    const { config, warnings } = parse({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: endpoint,
    });
    assert.deepEqual(warnings, [], endpoint);
    assert.equal(config.metrics.otlp.url, url, endpoint);
    assert.equal(config.traces.otlp.url, 'http://general:4318/v1/traces', endpoint);
    assert.equal(config.logs.otlp.url, 'http://general:4318/v1/logs', endpoint);
  }
});

test('parseConfig() ignores an endpoint that is not an absolute http(s) URL, with one warning', () => {
  const bad = [
    'collector:4318',
    'localhost',
    '/v1/traces',
    'ftp://c/x',
    'grpc://c:4317',
    'http://',
    'http:c:4318',
    'http:/c',
    'http://c :4318',
    'http://:4318',
    'http://c:99999',
  ];
  for (const value of bad) {
    const general = parseWithOneWarning(
      { OTEL_EXPORTER_OTLP_ENDPOINT: value },
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'http://localhost:4318',
    );
    assert.equal(general.traces.otlp.url, 'http://localhost:4318/v1/traces', value);
    const own = parseWithOneWarning(
      { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: value },
      'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
      'http://localhost:4318/v1/logs',
    );
    assert.equal(own.logs.otlp.url, 'http://localhost:4318/v1/logs', value);
  }
  // A bad signal endpoint is as if unset: the general one applies, and the warning says so.
  const fallback = parseWithOneWarning(
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp/', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'c/v1/traces' },
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    'https://c/otlp/v1/traces',
  );
  assert.equal(fallback.traces.otlp.url, 'https://c/otlp/v1/traces');
});

test("parseConfig() takes each OTLP option from the signal's variable, else the general one, else the default", () => {
  const { config, warnings } = parse({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '700',
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'gzip',
    OTEL_EXPORTER_OTLP_HEADERS: 'a=1',
    OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'b=2',
  });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.traces.otlp, {
    url: 'http://localhost:4318/v1/traces',
    protocol: 'http/protobuf',
    headers: { a: '1' },
    timeoutMillis: 2500,
    compression: 'none',
  });
  assert.deepEqual(config.metrics.otlp, {
    url: 'http://localhost:4318/v1/metrics',
    protocol: 'http/json',
    headers: { b: '2' },
    timeoutMillis: 700,
    compression: 'none',
  });
  assert.deepEqual(config.logs.otlp, {
    url: 'http://localhost:4318/v1/logs',
    protocol: 'http/json',
    headers: { a: '1' },
    timeoutMillis: 2500,
    compression: 'gzip',
  });
});

test('parseConfig() warns once about a bad general OTLP variable, and a bad signal one gives way to it', () => {
  const general = parse({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'nope',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TIMEOUT: 'soon',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'br',
    OTEL_EXPORTER_OTLP_HEADERS: 'broken',
  });
  assert.deepEqual(general.warnings.map((w) => WARNING.exec(w)?.[1]).sort(), [
    'OTEL_EXPORTER_OTLP_COMPRESSION',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_HEADERS',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_EXPORTER_OTLP_TIMEOUT',
  ]);
  assert.deepEqual(general.config, DEFAULTS);

  const env = {
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TIMEOUT: '1234',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
  };
  const cases: [
    name: string,
    value: string,
    using: string,
    read: (config: ResolvedConfig) => unknown,
    expected: unknown,
  ][] = [
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'grpc', 'http/json', (c) => c.traces.otlp.protocol, 'http/json'],
    ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', '-5', '1234', (c) => c.metrics.otlp.timeoutMillis, 1234],
    ['OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', 'deflate', 'gzip', (c) => c.logs.otlp.compression, 'gzip'],
  ];
  for (const [name, value, using, read, expected] of cases) {
    assert.equal(read(parseWithOneWarning({ ...env, [name]: value }, name, using)), expected, name);
  }
});

test('parseConfig() percent-decodes OTLP headers and lower-cases their names', () => {
  const cases: [string, Record<string, string>][] = [
    ['api-key=secret', { 'api-key': 'secret' }],
    ['Authorization=Bearer%20abc%3D%3D, X-Tenant = t1 ', { authorization: 'Bearer abc==', 'x-tenant': 't1' }],
    ['a=1,,b=2,', { a: '1', b: '2' }],
    ['a=x=y', { a: 'x=y' }],
    ['a=', { a: '' }],
    ['A=1,a=2', { a: '2' }],
    ['a=%2C%3B%25', { a: ',;%' }],
  ];
  for (const [value, headers] of cases) {
    const { config, warnings } = parse({ OTEL_EXPORTER_OTLP_HEADERS: value });
    assert.deepEqual(warnings, [], value);
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      assert.deepEqual(config[signal].otlp.headers, headers, value);
    }
  }
});

test("parseConfig() lets a signal's own OTLP headers replace the general ones", () => {
  const { config, warnings } = parse({
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=general,x-tenant=t1',
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'authorization=logs',
  });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.traces.otlp.headers, { authorization: 'general', 'x-tenant': 't1' });
  assert.deepEqual(config.metrics.otlp.headers, { authorization: 'general', 'x-tenant': 't1' });
  assert.deepEqual(config.logs.otlp.headers, { authorization: 'logs' });
});

test('parseConfig() discards bad OTLP headers whole, without showing them in the warning', () => {
  const bad = [
    'authorization',
    'authorization=Bearer%zzsecret',
    'a=%E0%A4%A',
    '=secret',
    'a=1,secret',
    'bad name=secret',
    'a=line%0Abreak',
    'a=caf%C3%A9',
    'a%3Ab=secret',
  ];
  for (const value of bad) {
    const config = parseWithOneWarning(
      { OTEL_EXPORTER_OTLP_HEADERS: value },
      'OTEL_EXPORTER_OTLP_HEADERS',
      'no headers',
    );
    assert.deepEqual(config.traces.otlp.headers, {}, value);
    const { warnings } = parse({ OTEL_EXPORTER_OTLP_HEADERS: value });
    assert.doesNotMatch(warnings[0]!, /secret|break|caf/, value);
  }
  // A bad signal list gives way to the general list.
  const general = { OTEL_EXPORTER_OTLP_HEADERS: 'a=1' };
  const config = parseWithOneWarning(
    { ...general, OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'oops' },
    'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
    'OTEL_EXPORTER_OTLP_HEADERS',
  );
  assert.deepEqual(config.traces.otlp.headers, { a: '1' });
  parseWithOneWarning({ OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'oops' }, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'no headers');
});

test('parseConfig() percent-decodes OTEL_RESOURCE_ATTRIBUTES keys and values', () => {
  const cases: [string, Record<string, string>][] = [
    ['service.version=0.1.0', { 'service.version': '0.1.0' }],
    [' service.namespace = dice , deployment.environment.name=a%2Cb ', {
      'service.namespace': 'dice',
      'deployment.environment.name': 'a,b',
    }],
    ['note=caf%C3%A9%20%E2%82%AC', { note: 'café €' }],
    ['k%3Dx=v', { 'k=x': 'v' }],
    ['a=1+2', { a: '1+2' }],
    ['a=', { a: '' }],
    ['a=1,a=2', { a: '2' }],
    ['a=b=c', { a: 'b=c' }],
    ['Case=1,case=2', { Case: '1', case: '2' }],
    ['__proto__=x', { ['__proto__']: 'x' }],
  ];
  for (const [value, attributes] of cases) {
    const { config, warnings } = parse({ OTEL_RESOURCE_ATTRIBUTES: value });
    assert.deepEqual([config.resourceAttributes, warnings], [attributes, []], value);
  }
  assert.equal(
    Object.getPrototypeOf(parse({ OTEL_RESOURCE_ATTRIBUTES: '__proto__=x' }).config.resourceAttributes),
    Object.prototype,
  );
});

test('parseConfig() discards all of OTEL_RESOURCE_ATTRIBUTES on any error, with one warning', () => {
  for (const value of ['a=%E0%A4%A', 'good=1,bad=%', 'good=1,bad=%ZZ', 'good=1,novalue', '=1', ' =1', 'a=%C3', '%=1']) {
    const config = parseWithOneWarning(
      { OTEL_RESOURCE_ATTRIBUTES: value },
      'OTEL_RESOURCE_ATTRIBUTES',
      'no attributes',
    );
    assert.deepEqual(config.resourceAttributes, {}, value);
  }
});

test('parseConfig() answers each of many bad values with exactly one warning and never throws', () => {
  const env: Env = {
    OTEL_SDK_DISABLED: 'maybe',
    OTEL_RESOURCE_ATTRIBUTES: 'x=%',
    OTEL_LOG_LEVEL: 'chatty',
    OTEL_PROPAGATORS: 'b3',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '7',
    OTEL_TRACES_EXPORTER: 'zipkin',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_LOGS_EXPORTER: 'logging',
    OTEL_EXPORTER_OTLP_ENDPOINT: '::',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'x',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'y',
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'z',
    OTEL_EXPORTER_OTLP_HEADERS: '\u0000',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TIMEOUT: '-',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'lz4',
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes',
  };
  for (const [name] of NUMBERS) env[name] = '\u{1F3B2}';
  const { config, warnings } = parse(env);
  const named = warnings.map((warning) => WARNING.exec(warning)?.[1]);
  assert.deepEqual(named.sort(), Object.keys(env).filter((name) => name !== 'OTEL_TRACES_SAMPLER').sort());
  assert.deepEqual(config, {
    ...DEFAULTS,
    traces: { ...DEFAULTS.traces, sampler: { name: 'traceidratio', ratio: 1 } },
  });
});

test('parseKeyValueList() decodes a key=value list, or warns once and gives {}', () => {
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  assert.deepEqual(parseKeyValueList('a=1, b = %41%20c ,', 'X_LIST', warn), { a: '1', b: 'A c' });
  assert.deepEqual(parseKeyValueList('', 'X_LIST', warn), {});
  assert.deepEqual(warnings, []);
  for (const text of ['=1', 'a=%', 'a', 'a=1,b']) {
    warnings.length = 0;
    assert.deepEqual(parseKeyValueList(text, 'X_LIST', warn), {}, text);
    assert.equal(warnings.length, 1, text);
    assert.match(
      warnings[0]!,
      new RegExp(
        `^Cannot parse X_LIST: current value is ${
          JSON.stringify(JSON.stringify(text)).slice(1, -1)
        }, using \\{\\} \\(.+\\)$`,
      ),
    );
  }
});

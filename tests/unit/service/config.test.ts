import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config.ts';
import { ConfigError, DEFAULT_PORT, parseServiceConfig } from '../../../src/service/config.ts';

function parse(env: Record<string, string>) {
  const warnings: string[] = [];
  return { config: parseServiceConfig(env, (message) => warnings.push(message)), warnings };
}

/** The one line a user sees for a setting the service cannot start with. */
function refusal(env: Record<string, string>): string {
  try {
    parseServiceConfig(env, () => {});
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${error}`);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error.message;
  }
  assert.fail(`${JSON.stringify(env)} was accepted`);
}

test('parseServiceConfig() listens on port 8080 of every interface, rolling here, for an empty environment', () => {
  const { config, warnings } = parse({});
  assert.equal(DEFAULT_PORT, 8080);
  assert.equal(config.port, 8080);
  assert.equal(config.hostname, undefined, 'undefined: every interface');
  assert.equal(config.upstream, undefined);
  assert.deepEqual(config.telemetry, parseConfig({}, () => {}));
  assert.deepEqual(warnings, []);
});

test('parseServiceConfig() treats empty and blank PORT, HOST and ROLLDICE_UPSTREAM as unset', () => {
  const { config, warnings } = parse({ PORT: '', HOST: '  ', ROLLDICE_UPSTREAM: '\t' });
  assert.deepEqual([config.port, config.hostname, config.upstream], [8080, undefined, undefined]);
  assert.deepEqual(warnings, []);
});

test('parseServiceConfig() reads PORT from 0 (any free port) to 65535, trimmed', () => {
  for (const [text, port] of [['0', 0], ['1', 1], ['3000', 3000], [' 8081 ', 8081], ['080', 80], ['65535', 65_535]]) {
    assert.equal(parse({ PORT: String(text) }).config.port, port, JSON.stringify(text));
  }
});

test('parseServiceConfig() refuses a PORT that is not a port number, naming the variable and the value', () => {
  for (const text of ['abc', '-1', '65536', '70000', '123456', '1.5', '1e3', '0x50', '80 80', '+80']) {
    assert.equal(
      refusal({ PORT: text }),
      `PORT is ${JSON.stringify(text)}: expected a port number from 0 to 65535, e.g. PORT=8080`,
    );
  }
});

test('parseServiceConfig() reads HOST as a host name or an IPv4 or IPv6 address, brackets optional', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['localhost', 'localhost'],
    ['dice-1.example.com', 'dice-1.example.com'],
    ['::', '::'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[fe80::1]', 'fe80::1'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
  ];
  for (const [text, hostname] of cases) assert.equal(parse({ HOST: text }).config.hostname, hostname, text);
});

test('parseServiceConfig() refuses a HOST that is no host name or address, naming the variable and the value', () => {
  for (const text of ['a b', 'http://dice', 'dice:8080', '[::1', '::1]', 'under_score', '-dice', 'dice-', 'a..b']) {
    assert.equal(
      refusal({ HOST: text }),
      `HOST is ${
        JSON.stringify(text)
      }: expected a host name or IP address to listen on, e.g. HOST=127.0.0.1, or unset for every interface`,
    );
  }
});

test('parseServiceConfig() takes ROLLDICE_UPSTREAM as an absolute http or https URL and refuses anything else', () => {
  for (const url of ['http://dice-b:8080', 'https://dice.example.com/base/', 'http://[::1]:8080']) {
    assert.equal(parse({ ROLLDICE_UPSTREAM: url }).config.upstream, url);
  }
  for (const url of ['dice-b:8080', '/rolldice', 'ftp://dice-b', 'http://', 'not a url']) {
    assert.equal(
      refusal({ ROLLDICE_UPSTREAM: url }),
      `ROLLDICE_UPSTREAM is ${JSON.stringify(url)}: expected an absolute http or https URL, e.g. http://dice-b:8080`,
    );
  }
});

test('parseServiceConfig() warns about a bad OTEL_* value and starts with its default, as the spec asks', () => {
  const { config, warnings } = parse({ OTEL_BSP_SCHEDULE_DELAY: 'soon', PORT: '9000' });
  assert.equal(config.port, 9000);
  assert.equal(config.telemetry.traces.batch.scheduledDelayMillis, 5000);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /OTEL_BSP_SCHEDULE_DELAY/);
});

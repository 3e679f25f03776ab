import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRequestTarget } from '../../src/url.ts';

test('parseRequestTarget() splits what new URL() splits', () => {
  const urls = [
    'http://localhost:8080/rolldice/Alice',
    'http://localhost/rolldice',
    'https://example.com/a/b?x=1&y=2',
    'http://[::1]:8080/rolldice?q',
    'http://user:pw@host:9/p#frag',
    'http://host:9?only=query',
    'https://host',
  ];
  for (const url of urls) {
    const parsed = new URL(url);
    const defaultPort = parsed.protocol === 'https:' ? 443 : 80;
    assert.deepEqual(parseRequestTarget(url), {
      scheme: parsed.protocol.slice(0, -1),
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: parsed.port ? Number(parsed.port) : defaultPort,
      path: parsed.pathname,
      query: parsed.search.slice(1),
      segments: parsed.pathname.split('/'),
    }, url);
  }
});

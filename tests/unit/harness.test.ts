import assert from 'node:assert/strict';
import { test } from '../_harness.ts';
test('harness runs a test', () => {
  assert.equal(1 + 1, 2);
});

/**
 * At most `limit` bytes of a response body. Once that many have arrived the rest is cancelled
 * rather than read, so a long or endless body neither fills memory nor holds the connection.
 *
 * @example
 * ```ts
 * import { readBodyUpTo } from '@rolldice/otel';
 *
 * const response = await fetch('https://example.com/');
 * const start = new TextDecoder().decode(await readBodyUpTo(response, 1024)); // the first KiB at most
 * ```
 */
export async function readBodyUpTo(response: Response, limit: number): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
    if (length >= limit) await reader.cancel().catch(() => {});
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(Math.min(length, limit));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, body.length - offset);
    body.set(part, offset);
    offset += part.length;
  }
  return body;
}

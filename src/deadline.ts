/**
 * Waits for `promise` at most `millis` ms: true when it fulfilled in time, false when the time
 * ran out first (it goes on unobserved). A rejection in time is rethrown. The timer never
 * outlives the wait, so it cannot hold a process open.
 */
export async function settlesWithin(promise: Promise<unknown>, millis: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeUp = new Promise<false>((resolve) => (timer = setTimeout(resolve, millis, false)));
  try {
    return await Promise.race([promise.then(() => true as const), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

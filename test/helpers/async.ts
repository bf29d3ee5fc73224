/**
 * Waiting for a state and bounding concurrency. Tests wait for events or states, never for time (house habit 14):
 * the timeouts here are safety nets that stop a hung test, sized for a loaded 2-core machine, not expectations.
 */

/** How long a wait may take before the test is considered hung. */
export const SAFETY_NET_MS = 60_000;

/**
 * Retries `check` (which throws or rejects until the state it looks for holds) until it passes; rethrows its last
 * error once `timeoutMs` is over. Polls every `intervalMs`: how fast the state comes about is not checked.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = SAFETY_NET_MS, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** Runs `task` over `items` with at most `concurrency` at a time, in order of start; resolves when all are done. */
export async function inPool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]!, index);
      }
    }),
  );
  return results;
}

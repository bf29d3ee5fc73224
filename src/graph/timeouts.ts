/** The Graph client's timeouts for one request: connecting, then waiting for the answer's headers, then its body. */
export const DEFAULT_TIMEOUT_MS = 20_000;
const MAX_CONNECT_TIMEOUT_MS = 10_000;

export function connectTimeoutMs(timeoutMs: number): number {
  return Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS);
}

/** The longest one request can take before the client gives up on it: each of its timeouts used up in turn. */
export function longestAttemptMs(timeoutMs: number = DEFAULT_TIMEOUT_MS): number {
  return connectTimeoutMs(timeoutMs) + 2 * timeoutMs;
}

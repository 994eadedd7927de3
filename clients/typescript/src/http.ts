/**
 * The transport every request goes through: a `fetch` that retries what may be retried.
 *
 * 429, 502, 503 and 504 answers and connection errors are tried again up to `maxRetries` times,
 * after the answer's `Retry-After` (seconds or an HTTP date) when it gives one, else after an
 * exponential backoff with jitter; a `Retry-After` longer than `maxRetryAfterMs` is not waited for
 * (the answer stands). Submissions carry an `Idempotency-Key`, so a retried one never makes a
 * second job. Works wherever `fetch` does (Node 20+, browsers, workers).
 */
import { APIConnectionError, retryAfterMs } from "./errors.js";

/** Statuses worth another try: rate limited, or the service briefly unavailable. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export interface RetryOptions {
  /** Tries after the first; default 3. */
  maxRetries?: number;
  /** The longest `Retry-After` honoured; a longer one ends the retries. Default 60 s. */
  maxRetryAfterMs?: number;
}

/** Wait `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The backoff before try `attempt + 1`: 250 ms doubling to 8 s, with jitter. */
export function backoffMs(attempt: number): number {
  return Math.min(8_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** A key that makes every retry of one submission the same job. */
export function idempotencyKey(): string {
  return `isc-${globalThis.crypto.randomUUID()}`;
}

/**
 * `fetchImpl` with retries (see the module's comment). A request whose body is a stream is cloned
 * before each try, so a retry sends the same bytes.
 */
export function retryingFetch(fetchImpl: typeof globalThis.fetch, options: RetryOptions = {}): typeof globalThis.fetch {
  const maxRetries = options.maxRetries ?? 3;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  return async (input, init) => {
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= maxRetries;
      const request = input instanceof Request && !last ? input.clone() : input;
      let response: Response;
      try {
        response = await fetchImpl(request, init);
      } catch (error) {
        // fetch rejects with a TypeError when the network fails; an abort is the caller's choice.
        if (!(error instanceof TypeError)) throw error;
        const url = input instanceof Request ? input.url : String(input);
        if (last) throw new APIConnectionError(`${url}: ${error.message}`, { cause: error });
        await sleep(backoffMs(attempt), signal);
        continue;
      }
      if (last || !RETRY_STATUSES.has(response.status)) return response;
      const after = retryAfterMs(response.headers.get("retry-after"));
      if (after !== null && after > maxRetryAfterMs) return response;
      await response.body?.cancel();
      await sleep(after ?? backoffMs(attempt), signal);
    }
  };
}

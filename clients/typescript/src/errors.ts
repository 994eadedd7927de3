/**
 * The client's errors.
 *
 * ImageStudioError          the service answered with a problem (RFC 9457): status, headers, problem
 * JobFailedError            `run` saw its job fail or be canceled (the job and its problem)
 * APIConnectionError        the service could not be reached (after the retries ran out)
 * JobTimeoutError           `waitForJob` gave up before the job ended (the job goes on)
 * DownloadError             an output could not be fetched whole
 * WebhookVerificationError  a webhook's signature or timestamp did not verify
 */
import type { components } from "./schema.js";
import type { Job } from "./types.js";

export type Problem = components["schemas"]["Problem"];

/** Thrown when the API answers with a problem; `problem` holds its body, `headers` the answer's headers. */
export class ImageStudioError extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly headers: Headers;

  constructor(status: number, problem: Problem, headers: Headers = new Headers()) {
    super(`${problem.title ?? "HTTP error"} (${status}): ${problem.detail ?? ""}`);
    this.name = "ImageStudioError";
    this.status = status;
    this.problem = problem;
    this.headers = headers;
  }

  /** Seconds the service asked to wait before trying again (`Retry-After`), when it said. */
  get retryAfterSeconds(): number | null {
    const ms = retryAfterMs(this.headers.get("retry-after"));
    return ms === null ? null : ms / 1000;
  }
}

/** Thrown by `run` when its job ends failed or canceled; `problem` is the job's error. */
export class JobFailedError extends Error {
  readonly job: Job;
  readonly problem: Problem | null;

  constructor(job: Job) {
    super(`job ${job.id} ${job.status}: ${job.error?.title ?? ""} ${job.error?.detail ?? ""}`.trim());
    this.name = "JobFailedError";
    this.job = job;
    this.problem = (job.error as Problem | null | undefined) ?? null;
  }
}

/** Thrown when the service cannot be reached once the retries ran out. */
export class APIConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "APIConnectionError";
  }
}

/** Thrown by `waitForJob` when the job is not finished in time. */
export class JobTimeoutError extends Error {
  readonly job: Job;

  constructor(job: Job, timeoutMs: number) {
    super(`job ${job.id} still ${job.status} after ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
    this.job = job;
  }
}

/** Thrown when an output cannot be fetched, or arrives with another size than the job says. */
export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

/** Thrown by `verifyWebhook` when a delivery's signature, id or timestamp does not verify. */
export class WebhookVerificationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WebhookVerificationError";
  }
}

/** A `Retry-After` value (seconds or an HTTP date) in milliseconds, or null when absent or unreadable. */
export function retryAfterMs(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, when - Date.now());
}

/** The problem an answer's body describes, or one made from its status when the body is not a problem. */
export function asProblem(status: number, body: unknown): Problem {
  if (body && typeof body === "object" && "type" in body && "title" in body) {
    return body as Problem;
  }
  const detail = typeof body === "string" ? body : JSON.stringify(body ?? null);
  return { type: "about:blank", title: "HTTP error", status, detail, instance: null, field: null, errors: null, trace_id: null };
}

/** An openapi-fetch answer: its data, or the {@link ImageStudioError} its problem describes. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  const { data, error, response } = result;
  if (!response.ok || (data === undefined && response.status !== 204)) {
    throw new ImageStudioError(response.status, asProblem(response.status, error), response.headers);
  }
  return data as T;
}

/**
 * Image Studio's TypeScript client: upload an image, submit a job, wait for it, verify a webhook.
 *
 * The request and response types come from the API's OpenAPI document (`docs/openapi.json`,
 * generated into `src/schema.ts` by openapi-typescript at build); requests go through openapi-fetch,
 * and webhooks are checked with the Standard Webhooks library.
 *
 * ```ts
 * const studio = new ImageStudio({ baseUrl: "http://127.0.0.1:8000", apiKey: process.env.IMAGESTUDIO_API_KEY! });
 * const job = await studio.socialOptimize({ image: new Blob([bytes], { type: "image/png" }), formats: ["instagram.story"] });
 * const done = await studio.waitForJob(job.id);
 * ```
 */
import createClient, { type Client } from "openapi-fetch";
import { Webhook } from "standardwebhooks";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** The path prefix of every API route. */
export const API_PREFIX = "/api/image-studio";

export type Job = components["schemas"]["JobRead"];
export type JobStatus = components["schemas"]["JobStatus"];
export type JobPage = components["schemas"]["JobPage"];
export type Upload = components["schemas"]["UploadRead"];
export type Problem = components["schemas"]["Problem"];
/** The JSON body of a job-submitting operation (images named by upload id). */
type JsonBody<Op extends keyof operations> = NonNullable<operations[Op]["requestBody"]>["content"]["application/json"];
/** A request whose image fields may each be an upload id or the image itself (then sent as multipart). */
type WithImages<Body, Fields extends keyof Body> = Omit<Body, Fields> & {
  [Field in Fields]: undefined extends Body[Field] ? string | Blob | null | undefined : string | Blob;
};

/** The JSON body of `POST /create`: with `init_image` (an upload id) and `strength` 0-1 it is image to image. */
export type CreateRequest = JsonBody<"create_images">;
/** A create request whose `init_image` is an upload id or the image itself. */
export type CreateInput = WithImages<CreateRequest, "init_image">;
/** The JSON body of `POST /social/optimize`: `image` is an upload id. */
export type SocialOptimizeRequest = JsonBody<"social_optimize">;
/** A social request whose `image` is either an upload id or the image itself (sent as multipart). */
export type SocialOptimizeInput = WithImages<SocialOptimizeRequest, "image">;
/** The JSON body of `POST /control`: the operation, its images (upload ids) and strengths. */
export type ControlRequest = JsonBody<"control_submit">;
/** A control request whose `image` and `style_image` are upload ids or the images themselves. */
export type ControlInput = WithImages<ControlRequest, "image" | "style_image">;
/** The JSON body of `POST /compress`: one of `quality`, `target_kb`, `target_ssim` or `preset`. */
export type CompressRequest = JsonBody<"compress_submit">;
export type CompressInput = WithImages<CompressRequest, "image">;
/** The JSON body of `POST /convert`: the target `format`, transparency, colour space. */
export type ConvertRequest = JsonBody<"compress_submit_convert">;
export type ConvertInput = WithImages<ConvertRequest, "image">;

/** The statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

/** A webhook's body: one job event (Standard Webhooks payload). */
export interface WebhookEvent {
  type: `job.${JobStatus}`;
  timestamp: string;
  data: {
    id: string;
    status: JobStatus;
    studio: string;
    created_at: string;
    finished_at: string | null;
    error: Problem | null;
    links: { self: string };
  };
}

/** Thrown when the API answers with a problem (RFC 9457); `problem` holds its body. */
export class ImageStudioError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(`${problem.title ?? "HTTP error"} (${status}): ${problem.detail ?? ""}`);
    this.name = "ImageStudioError";
    this.status = status;
    this.problem = problem;
  }
}

/** Thrown by {@link ImageStudio.waitForJob} when the job is not finished in time. */
export class JobTimeoutError extends Error {
  readonly job: Job;

  constructor(job: Job, timeoutMs: number) {
    super(`job ${job.id} still ${job.status} after ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
    this.job = job;
  }
}

export interface ImageStudioOptions {
  /** The gateway's address, e.g. `http://127.0.0.1:8000` (no path). */
  baseUrl: string;
  /** An API key (`imagestudio keys create`, or the dev key `make up` prints). */
  apiKey: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof globalThis.fetch;
}

export interface SubmitOptions {
  /** Sent as `Idempotency-Key`: a retried submission with the same key makes one job. */
  idempotencyKey?: string;
}

export interface WaitOptions {
  /** Give up (throw {@link JobTimeoutError}) after this long; default 10 minutes. */
  timeoutMs?: number;
  /** The first poll's delay; each next one doubles, up to `maxDelayMs`. Default 250 ms. */
  initialDelayMs?: number;
  /** The longest delay between polls; default 5 s. */
  maxDelayMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function asProblem(status: number, body: unknown): Problem {
  if (body && typeof body === "object" && "type" in body && "title" in body) {
    return body as Problem;
  }
  const detail = typeof body === "string" ? body : JSON.stringify(body ?? null);
  return { type: "about:blank", title: "HTTP error", status, detail, instance: null, field: null, errors: null, trace_id: null };
}

/** Whether any field of a request is an image itself (a Blob) rather than an upload id. */
function hasImage(request: object): boolean {
  return Object.values(request).some((value) => value instanceof Blob);
}

/** A request as a multipart form: Blobs as files, lists repeated, null and undefined left out. */
function asForm(request: object): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(request)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item instanceof Blob) form.append(name, item, name);
      else if (item !== null && item !== undefined) form.append(name, String(item));
    }
  }
  return form;
}

/** A client for one gateway and one API key. */
export class ImageStudio {
  /** The typed openapi-fetch client, for any route this class does not wrap. */
  readonly api: Client<paths>;
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof globalThis.fetch;

  constructor(options: ImageStudioOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.api = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: { Authorization: `Bearer ${this.apiKey}` },
      fetch: this.fetchImpl,
    });
  }

  /** Store an image once; its id (`upl_…`) can be named by many jobs. */
  async uploadImage(image: Blob, filename = "image"): Promise<Upload> {
    const form = new FormData();
    form.append("file", image, filename);
    return (await this.postForm("/uploads", form)) as Upload;
  }

  /** Submit a social job: one image rendered to every chosen platform format. Answers the queued job. */
  async socialOptimize(request: SocialOptimizeInput, options: SubmitOptions = {}): Promise<Job> {
    if (hasImage(request)) return (await this.postForm("/social/optimize", asForm(request), options)) as Job;
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/social/optimize`, {
      body: request as SocialOptimizeRequest,
      params: { header: this.submitHeaders(options) },
    });
    return this.unwrap(data, error, response);
  }

  /**
   * Submit a create job: 1-10 images from a prompt. With `init_image` (an upload id or the image)
   * it is image to image, `strength` 0-1 saying how far to move from it. Answers the queued job.
   */
  async create(request: CreateInput, options: SubmitOptions = {}): Promise<Job> {
    if (hasImage(request)) return (await this.postForm("/create", asForm(request), options)) as Job;
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/create`, {
      body: request as CreateRequest,
      params: { header: this.submitHeaders(options) },
    });
    return this.unwrap(data, error, response);
  }

  /**
   * Submit a control job: `sketch` or `structure` (`control_strength`), `style` (`fidelity`) or
   * `style_transfer` (`style_image`, `style_strength`, ...); an explicit 0 is honoured. Sketch and
   * structure jobs also output the `control_map` the provider was sent.
   */
  async control(request: ControlInput, options: SubmitOptions = {}): Promise<Job> {
    if (hasImage(request)) return (await this.postForm("/control", asForm(request), options)) as Job;
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/control`, {
      body: request as ControlRequest,
      params: { header: this.submitHeaders(options) },
    });
    return this.unwrap(data, error, response);
  }

  /**
   * Submit a compress job (free): `target_ssim` gives the smallest file that stays that close to
   * the source. The output's metadata holds `bytes_before`, `bytes_after`, `quality` and `ssim`.
   */
  async compress(request: CompressInput, options: SubmitOptions = {}): Promise<Job> {
    if (hasImage(request)) return (await this.postForm("/compress", asForm(request), options)) as Job;
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/compress`, {
      body: request as CompressRequest,
      params: { header: this.submitHeaders(options) },
    });
    return this.unwrap(data, error, response);
  }

  /** Submit a convert job (free; its job is a `compress` job): the image in another format. */
  async convert(request: ConvertInput, options: SubmitOptions = {}): Promise<Job> {
    if (hasImage(request)) return (await this.postForm("/convert", asForm(request), options)) as Job;
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/convert`, {
      body: request as ConvertRequest,
      params: { header: this.submitHeaders(options) },
    });
    return this.unwrap(data, error, response);
  }

  /** A job's state, progress, error and outputs (with fresh download URLs). */
  async getJob(jobId: string): Promise<Job> {
    const { data, error, response } = await this.api.GET(`${API_PREFIX}/jobs/{job_id}`, {
      params: { path: { job_id: jobId } },
    });
    return this.unwrap(data, error, response);
  }

  /** Poll a job, with exponential backoff, until it succeeds, fails or is canceled; answers it. */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    const maxDelayMs = options.maxDelayMs ?? 5_000;
    let delayMs = options.initialDelayMs ?? 250;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.getJob(jobId);
      if (TERMINAL_STATUSES.includes(job.status)) return job;
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(job, timeoutMs);
      await sleep(Math.min(delayMs, left), options.signal);
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }

  /**
   * The secret that signs webhooks sent to a job's own `webhook_url`. The service shows it once
   * (the first call; it is encrypted at rest after that): keep it, or rotate for a new one.
   */
  async signingSecret(): Promise<string> {
    const { data, error, response } = await this.api.GET(`${API_PREFIX}/webhooks/default/secret`);
    const secret = this.unwrap(data, error, response).secret;
    if (!secret) {
      throw new Error("The signing secret was already shown once; call rotateSigningSecret() for a new one");
    }
    return secret;
  }

  /** A new signing secret (the previous one keeps verifying for a grace period). */
  async rotateSigningSecret(): Promise<string> {
    const { data, error, response } = await this.api.POST(`${API_PREFIX}/webhooks/default/secret/rotate`);
    const secret = this.unwrap(data, error, response).secret;
    if (!secret) throw new Error("The service answered a rotation without its new secret");
    return secret;
  }

  private submitHeaders(options: SubmitOptions): Record<string, string> {
    return options.idempotencyKey ? { "Idempotency-Key": options.idempotencyKey } : {};
  }

  private async postForm(path: string, form: FormData, options: SubmitOptions = {}): Promise<unknown> {
    // openapi-fetch serialises JSON; a file goes as multipart, which fetch encodes from FormData.
    const response = await this.fetchImpl(`${this.baseUrl}${API_PREFIX}${path}`, {
      method: "POST",
      body: form,
      headers: { Authorization: `Bearer ${this.apiKey}`, ...this.submitHeaders(options) },
    });
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) throw new ImageStudioError(response.status, asProblem(response.status, body));
    return body;
  }

  private unwrap<T>(data: T | undefined, error: unknown, response: Response): T {
    if (!response.ok || data === undefined) {
      throw new ImageStudioError(response.status, asProblem(response.status, error));
    }
    return data;
  }
}

/**
 * Check a webhook's signature and timestamp (Standard Webhooks) and answer its event.
 *
 * `payload` is the raw request body, exactly as received (parse it only after this); `headers`
 * must hold `webhook-id`, `webhook-timestamp` and `webhook-signature`. Throws when the signature
 * does not match or the timestamp is too old.
 */
export function verifyWebhook(
  secret: string,
  payload: string | Buffer,
  headers: Headers | Record<string, string | string[] | undefined>,
): WebhookEvent {
  const plain: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      plain[name] = value;
    });
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) plain[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return new Webhook(secret).verify(payload, plain) as WebhookEvent;
}

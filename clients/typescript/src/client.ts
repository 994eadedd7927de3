/**
 * The client for one gateway and one API key: uploads, every studio, jobs (wait, stream, cancel,
 * list, download), batch, estimates and credits; webhooks and the library through its resources.
 */
import createClient, { type Client } from "openapi-fetch";

import { DownloadError, ImageStudioError, JobFailedError, JobTimeoutError, APIConnectionError, asProblem, unwrap } from "./errors.js";
import { jobEvents, type StreamOptions } from "./events.js";
import { idempotencyKey, retryingFetch, sleep, type RetryOptions } from "./http.js";
import { API_PREFIX, Assets, Catalogue, Personas, Webhooks, paged, type SigningSecretOptions } from "./resources.js";
import type { paths } from "./schema.js";
import {
  TERMINAL_STATUSES,
  type BatchJob,
  type CompressInput,
  type ControlInput,
  type ConvertInput,
  type CreateInput,
  type Credits,
  type EditInput,
  type Estimate,
  type Job,
  type JobEvent,
  type JobOutput,
  type JobProgress,
  type JobStatus,
  type PresignedUpload,
  type SocialOptimizeInput,
  type SocialPlan,
  type SocialPlanInput,
  type Studio,
  type StudioInputs,
  type StudioName,
  type TransferProgress,
  type UpscaleInput,
  type Upload,
} from "./types.js";

export interface ImageStudioOptions extends RetryOptions {
  /** The gateway's address, e.g. `http://127.0.0.1:8000` (no path). */
  baseUrl: string;
  /** An API key (`imagestudio keys create`, or the dev key `make up` prints). */
  apiKey: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof globalThis.fetch;
}

export interface SubmitOptions {
  /** Sent as `Idempotency-Key`; one is made when not given, so the client's retries make one job. */
  idempotencyKey?: string;
}

export interface WaitOptions {
  /** Give up (throw {@link JobTimeoutError}) after this long; default 30 minutes. */
  timeoutMs?: number;
  /** Called with the job's status and progress as its events arrive (or at each poll). */
  onProgress?: (progress: JobProgress) => void;
  /** Follow the job's event stream (default), or only poll. Polling is the fallback either way. */
  stream?: boolean;
  /** The first poll's delay; each next one doubles, up to `maxDelayMs`. Default 250 ms. */
  initialDelayMs?: number;
  /** The longest delay between polls; default 2 s. */
  maxDelayMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface DownloadOptions {
  /** Called as bytes arrive, with the total over every output. */
  onProgress?: (progress: TransferProgress) => void;
  /** Outputs fetched at once; default 4. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** One fetched output: its record and its bytes (size checked against the record). */
export interface DownloadedOutput {
  output: JobOutput;
  data: Uint8Array;
}

/** One entry of a batch: `job` when accepted (status 202), else `error` (the studio's problem). */
export interface BatchResult {
  status: number;
  job: Job | null;
  error: ImageStudioError | null;
}

/** Statuses a presigned link answers once it has expired (local links 404, S3 ones 403). */
const EXPIRED_LINK_STATUSES: ReadonlySet<number> = new Set([401, 403, 404, 410]);

/** Seconds a crop plan is waited for in its own request (`Prefer: wait`) before it is followed. */
const PLAN_WAIT_SECONDS = 10;

/** Each studio's submission route, by the name a batch entry or `run` uses. */
const STUDIO_PATHS: Record<StudioName, string> = {
  create: "/create",
  edit: "/edit",
  upscale: "/upscale",
  social: "/social/optimize",
  control: "/control",
  compress: "/compress",
  convert: "/convert",
};

/** Whether any field of a request is an image itself (a Blob) rather than an upload id or a URL. */
function hasImage(request: object): boolean {
  return Object.values(request).some((value) => value instanceof Blob);
}

/**
 * A request as a multipart form: Blobs as files, lists repeated, objects (a custom social format)
 * as their JSON, null and undefined left out.
 */
function asForm(request: object): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(request)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item instanceof Blob) form.append(name, item, name);
      else if (typeof item === "object" && item !== null) form.append(name, JSON.stringify(item));
      else if (item !== null && item !== undefined) form.append(name, String(item));
    }
  }
  return form;
}

/** A job's progress after one of its events. */
function eventProgress(event: JobEvent, last: JobProgress): JobProgress {
  if (event.type === "job.progress") {
    const progress = typeof event.data.progress === "number" ? event.data.progress : last.progress;
    const message = typeof event.data.message === "string" ? event.data.message : last.message;
    return { ...last, status: "running", progress, message };
  }
  const status = event.type.replace(/^job\./, "") as JobStatus;
  return { ...last, status, progress: status === "succeeded" ? 1 : last.progress, message: status === "running" ? last.message : status };
}

/** `fn` over `items`, at most `concurrency` at a time; the results in order. */
async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** A client for one gateway and one API key. */
export class ImageStudio {
  /** The typed openapi-fetch client (with the retries), for any route this class does not wrap. */
  readonly api: Client<paths>;
  /** Webhook endpoints, deliveries and signing secrets. */
  readonly webhooks: Webhooks;
  /** The library of outputs: favourite, tag, delete, bulk. */
  readonly assets: Assets;
  readonly personas: Personas;
  /** Templates and providers. */
  readonly catalogue: Catalogue;
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchApi: typeof globalThis.fetch;
  /** Presigned links carry their own credential: the API key never goes to the bucket. */
  private readonly fetchLink: typeof globalThis.fetch;

  /**
   * Throws a TypeError naming the option when `baseUrl` is not an http(s) address or `apiKey` is
   * missing or not a key (a placeholder such as `isk_…` left in place), before any request.
   */
  constructor(options: ImageStudioOptions) {
    if (typeof options.baseUrl !== "string" || !/^https?:\/\/[^/]/.test(options.baseUrl)) {
      throw new TypeError(`baseUrl: an http(s) address such as http://127.0.0.1:8000 is needed, got ${JSON.stringify(options.baseUrl)} (is IMAGESTUDIO_URL set?)`);
    }
    // A header value is printable ASCII: anything else would fail later, inside fetch, unexplained.
    if (typeof options.apiKey !== "string" || !/^[\x21-\x7e]+$/.test(options.apiKey) || options.apiKey.includes("…")) {
      throw new TypeError("apiKey: an API key (isk_...) is needed; `make up` prints a dev key (is IMAGESTUDIO_API_KEY set?)");
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.fetchApi = retryingFetch(fetchImpl, options);
    this.fetchLink = retryingFetch(fetchImpl, options);
    this.api = createClient<paths>({ baseUrl: this.baseUrl, headers: this.authHeaders(), fetch: this.fetchApi });
    this.webhooks = new Webhooks(this.api);
    this.assets = new Assets(this.api);
    this.personas = new Personas(this.api);
    this.catalogue = new Catalogue(this.api);
  }

  // --- uploads ---------------------------------------------------------------------------------

  /** Store an image once (multipart through the gateway); its id (`upl_…`) can be named by many jobs. */
  async uploadImage(image: Blob, filename = "image"): Promise<Upload> {
    const form = new FormData();
    form.append("file", image, filename);
    return (await this.send("POST", "/uploads", { form })) as Upload;
  }

  /**
   * A pending upload with a `put_url`: the file goes straight to storage (see {@link putUpload}).
   * `filename` (the file's name) is kept by the service and names the outputs made from it.
   */
  async presignUpload(contentType: string, bytes: number, filename?: string): Promise<PresignedUpload> {
    const json = filename === undefined ? { content_type: contentType, bytes } : { content_type: contentType, bytes, filename };
    return (await this.send("POST", "/uploads", { json })) as PresignedUpload;
  }

  /**
   * Send the file to a presigned upload's `put_url` (the link is the credential). The upload stays
   * `pending` until a job first names it: then it is checked and becomes `ready`.
   */
  async putUpload(upload: PresignedUpload, image: Blob): Promise<void> {
    const response = await this.fetchLink(upload.put_url, { method: "PUT", body: image, headers: { "Content-Type": upload.content_type } });
    await this.answer(response);
  }

  /** Upload straight to storage, never through the gateway: presign, then PUT. Answers the pending upload. */
  async uploadPresigned(image: Blob, filename?: string): Promise<PresignedUpload> {
    const named = filename ?? (typeof File !== "undefined" && image instanceof File ? image.name : undefined);
    const upload = await this.presignUpload(image.type || "application/octet-stream", image.size, named);
    await this.putUpload(upload, image);
    return upload;
  }

  async getUpload(uploadId: string): Promise<Upload> {
    return unwrap(await this.api.GET(`${API_PREFIX}/uploads/{upload_id}`, { params: { path: { upload_id: uploadId } } }));
  }

  /** Every upload of the tenant not yet expired, newest first, fetching page after page as it goes. */
  listUploads(options: { pageSize?: number } = {}): AsyncGenerator<Upload> {
    return paged(async (cursor) =>
      unwrap(await this.api.GET(`${API_PREFIX}/uploads`, { params: { query: { limit: options.pageSize ?? 100, cursor } } })),
    );
  }

  async deleteUpload(uploadId: string): Promise<void> {
    unwrap(await this.api.DELETE(`${API_PREFIX}/uploads/{upload_id}`, { params: { path: { upload_id: uploadId } } }));
  }

  // --- studios ---------------------------------------------------------------------------------

  /**
   * Submit a create job: 1-10 images from a prompt. With `init_image` (an upload id or the image)
   * it is image to image, `strength` 0-1 saying how far to move from it. Answers the queued job.
   */
  create(request: CreateInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("create", request, options);
  }

  /** Submit an edit: `remove_background`, `inpaint` (with `mask`), `outpaint`, `search_replace`, ... (`GET /edit/operations`). */
  edit(request: EditInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("edit", request, options);
  }

  /** Submit an upscale: `fast` (4x), `conservative` or `creative` (`GET /upscale/modes`). */
  upscale(request: UpscaleInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("upscale", request, options);
  }

  /** Submit a social job: one image rendered to every chosen platform format. */
  socialOptimize(request: SocialOptimizeInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("social", request, options);
  }

  /**
   * Each format's crop box, zoom, subject boxes and safe-zone placement without rendering
   * (`POST /social/plan`): the numbers `socialOptimize` with the same fields uses. A short job,
   * answered in the same request when it ends within 10 s (`Prefer: wait`), else waited for.
   * Throws {@link JobFailedError} when it fails.
   */
  async socialPlan(request: SocialPlanInput, options: SubmitOptions & WaitOptions = {}): Promise<SocialPlan> {
    const headers = { "Idempotency-Key": options.idempotencyKey ?? idempotencyKey(), Prefer: `wait=${PLAN_WAIT_SECONDS}` };
    const body = hasImage(request) ? { form: asForm(request) } : { json: request };
    let job = (await this.send("POST", "/social/plan", { ...body, headers })) as Job;
    if (!TERMINAL_STATUSES.includes(job.status)) job = await this.waitForJob(job.id, options);
    if (job.status !== "succeeded") throw new JobFailedError(job);
    const plan = job.outputs.find((output) => output.name === "plan");
    if (!plan) throw new ImageStudioError(500, asProblem(500, `job ${job.id} succeeded without a plan output`));
    return plan.metadata as unknown as SocialPlan;
  }

  /**
   * Submit a control job: `sketch` or `structure` (`control_strength`), `style` (`fidelity`) or
   * `style_transfer` (`style_image`, `style_strength`, ...); an explicit 0 is honoured. Sketch and
   * structure jobs also output the `control_map` the provider was sent.
   */
  control(request: ControlInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("control", request, options);
  }

  /** Submit a compress job (free): `quality`, `target_kb`, `target_ssim` or a `preset`. */
  compress(request: CompressInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("compress", request, options);
  }

  /** Submit a convert job (free; its job is a `compress` job): the image in another format. */
  convert(request: ConvertInput, options: SubmitOptions = {}): Promise<Job> {
    return this.submit("convert", request, options);
  }

  /**
   * Submit to a studio by name: JSON when every image is an upload id, else a multipart form.
   * An `Idempotency-Key` goes with it (made here unless given), so a retry never makes a second job.
   */
  async submit<S extends StudioName>(studio: S, request: StudioInputs[S], options: SubmitOptions = {}): Promise<Job> {
    const headers = { "Idempotency-Key": options.idempotencyKey ?? idempotencyKey() };
    const path = STUDIO_PATHS[studio];
    const body = hasImage(request) ? { form: asForm(request) } : { json: request };
    return (await this.send("POST", path, { ...body, headers })) as Job;
  }

  /**
   * Submit, wait and answer the finished job's outputs (their `url`s are fresh download links).
   * Throws {@link JobFailedError} when the job fails or is canceled.
   */
  async run<S extends StudioName>(studio: S, request: StudioInputs[S], options: SubmitOptions & WaitOptions = {}): Promise<JobOutput[]> {
    const job = await this.submit(studio, request, options);
    const done = await this.waitForJob(job.id, options);
    if (done.status !== "succeeded") throw new JobFailedError(done);
    return done.outputs;
  }

  /** Submit up to 100 jobs in one request (images as upload ids); each is answered on its own, in order. */
  async batch(jobs: BatchJob[], options: SubmitOptions = {}): Promise<BatchResult[]> {
    const headers = { "Idempotency-Key": options.idempotencyKey ?? idempotencyKey() };
    const answer = unwrap(await this.api.POST(`${API_PREFIX}/jobs/batch`, { body: { jobs }, headers }));
    return answer.jobs.map((entry) => ({
      status: entry.status,
      job: entry.job ?? null,
      error: entry.problem ? new ImageStudioError(entry.status, asProblem(entry.status, entry.problem)) : null,
    }));
  }

  /** What a studio request would cost (the pricing the reserve uses). */
  async estimate(studio: Studio, params: Record<string, unknown>): Promise<Estimate> {
    return unwrap(await this.api.POST(`${API_PREFIX}/estimate-cost`, { body: { studio, params } }));
  }

  /** Balance, credits held by running jobs, and recent ledger entries. */
  async credits(): Promise<Credits> {
    return unwrap(await this.api.GET(`${API_PREFIX}/credits`));
  }

  // --- jobs ------------------------------------------------------------------------------------

  /** A job's state, progress, error and outputs (with fresh download URLs). */
  async getJob(jobId: string): Promise<Job> {
    return unwrap(await this.api.GET(`${API_PREFIX}/jobs/{job_id}`, { params: { path: { job_id: jobId } } }));
  }

  /** Cancel a job that has not ended (409 when it has); its held credits are released. */
  async cancelJob(jobId: string): Promise<Job> {
    return unwrap(await this.api.POST(`${API_PREFIX}/jobs/{job_id}/cancel`, { params: { path: { job_id: jobId } } }));
  }

  /** Every job of the tenant, newest first, fetching page after page as it goes. */
  listJobs(filters: { studio?: Studio; status?: JobStatus; pageSize?: number } = {}): AsyncGenerator<Job> {
    return paged(async (cursor) =>
      unwrap(
        await this.api.GET(`${API_PREFIX}/jobs`, {
          params: { query: { studio: filters.studio, status: filters.status, limit: filters.pageSize ?? 100, cursor } },
        }),
      ),
    );
  }

  /** The job's events as they happen, ending after the terminal one; resumes after a dropped connection. */
  streamJobEvents(jobId: string, options: StreamOptions = {}): AsyncGenerator<JobEvent> {
    const url = `${this.baseUrl}${API_PREFIX}/jobs/${encodeURIComponent(jobId)}/events`;
    return jobEvents(
      (lastEventId, signal) =>
        this.fetchApi(url, {
          headers: { ...this.authHeaders(), Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": String(lastEventId) } : {}) },
          signal,
        }),
      jobId,
      options,
    );
  }

  /**
   * Wait until a job succeeds, fails or is canceled, and answer it (check `status`). Follows the
   * job's event stream, reporting progress; polls with backoff when the stream is not to be had.
   */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const timeoutMs = options.timeoutMs ?? 1_800_000;
    const deadline = Date.now() + timeoutMs;
    let progress: JobProgress = { jobId, status: "queued", progress: 0, message: "queued" };
    if (options.stream ?? true) {
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(new Error("deadline")), timeoutMs);
      const onAbort = (): void => stop.abort(options.signal?.reason);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        for await (const event of this.streamJobEvents(jobId, { signal: stop.signal })) {
          progress = eventProgress(event, progress);
          options.onProgress?.(progress);
        }
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        // The stream failing (connection, a 5xx) leaves polling; the deadline is checked there.
        const streamDown = error instanceof APIConnectionError || (error instanceof ImageStudioError && error.status >= 500);
        if (!stop.signal.aborted && !streamDown) throw error;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }
    }
    let delayMs = options.initialDelayMs ?? 250;
    for (;;) {
      const job = await this.getJob(jobId);
      options.onProgress?.({ jobId, status: job.status, progress: job.progress ?? 0, message: job.progress_message || job.status });
      if (TERMINAL_STATUSES.includes(job.status)) return job;
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(job, timeoutMs);
      await sleep(Math.min(delayMs, left), options.signal);
      delayMs = Math.min(delayMs * 2, options.maxDelayMs ?? 2_000);
    }
  }

  /**
   * Fetch every output of a job (by id, or the job), `concurrency` at a time, in output order.
   * An expired link, or one the store refuses, is refreshed by reading the job again; each
   * output's size is checked against the job's record, else {@link DownloadError}.
   */
  async downloadOutputs(job: Job | string, options: DownloadOptions = {}): Promise<DownloadedOutput[]> {
    let current = typeof job === "string" ? await this.getJob(job) : job;
    const totalBytes = current.outputs.reduce((sum, output) => sum + output.bytes, 0);
    let doneBytes = 0;
    let refreshing: Promise<Job> | null = null;
    const fresh = async (stale: JobOutput): Promise<JobOutput> => {
      const known = current.outputs.find((output) => output.id === stale.id);
      if (known && known.url === stale.url) {
        // One refresh however many outputs find their links expired at once.
        refreshing ??= this.getJob(current.id).finally(() => (refreshing = null));
        current = await refreshing;
      }
      const found = current.outputs.find((output) => output.id === stale.id);
      if (!found) throw new DownloadError(`${stale.name}: no longer among the job's outputs`);
      return found;
    };
    const fetchOne = async (output: JobOutput): Promise<DownloadedOutput> => {
      let link = Date.parse(output.expires_at) <= Date.now() ? await fresh(output) : output;
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await this.fetchLink(link.url, { signal: options.signal });
        if (EXPIRED_LINK_STATUSES.has(response.status) && attempt === 0) {
          await response.body?.cancel();
          link = await fresh(link);
          continue;
        }
        if (!response.ok || !response.body) throw new DownloadError(`${output.name}: HTTP ${response.status}`);
        const chunks: Uint8Array[] = [];
        const reader = response.body.getReader();
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          chunks.push(read.value);
          doneBytes += read.value.byteLength;
          options.onProgress?.({ doneBytes, totalBytes });
        }
        const size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
        if (size !== link.bytes) throw new DownloadError(`${output.name}: got ${size} bytes, the job says ${link.bytes}`);
        const data = new Uint8Array(size);
        chunks.reduce((offset, chunk) => (data.set(chunk, offset), offset + chunk.byteLength), 0);
        return { output: link, data };
      }
      throw new DownloadError(`${output.name}: the link stayed refused after a refresh`);
    };
    return mapLimit(current.outputs, options.concurrency ?? 4, fetchOne);
  }

  // --- webhooks (also under `webhooks`) ---------------------------------------------------------

  /** See {@link Webhooks.signingSecret}: the secret once, then null unless `rotateIfShown`. */
  signingSecret(options: SigningSecretOptions & { rotateIfShown: true }): Promise<string>;
  signingSecret(options?: SigningSecretOptions): Promise<string | null>;
  signingSecret(options: SigningSecretOptions = {}): Promise<string | null> {
    return this.webhooks.signingSecret(options);
  }

  /** A new signing secret (the previous one keeps verifying for a grace period). */
  rotateSigningSecret(graceSeconds?: number): Promise<string> {
    return this.webhooks.rotateSigningSecret(graceSeconds);
  }

  // --- transport -------------------------------------------------------------------------------

  private authHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.apiKey}` };
  }

  /** A request openapi-fetch cannot type (a multipart form, a studio chosen at run time). */
  private async send(
    method: string,
    path: string,
    request: { json?: unknown; form?: FormData; headers?: Record<string, string> },
  ): Promise<unknown> {
    const headers: Record<string, string> = { ...this.authHeaders(), ...request.headers };
    let body: BodyInit | undefined = request.form;
    if (request.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(request.json);
    }
    return this.answer(await this.fetchApi(new Request(`${this.baseUrl}${API_PREFIX}${path}`, { method, body, headers })));
  }

  private async answer(response: Response): Promise<unknown> {
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    if (!response.ok) throw new ImageStudioError(response.status, asProblem(response.status, body), response.headers);
    return body;
  }
}

/**
 * Image Studio's TypeScript client: every studio, uploads, jobs (wait, stream, cancel, list,
 * download), batch, estimates, webhook endpoints and verification; for Node 20+ and browsers.
 *
 * The request and answer types are generated from the API's OpenAPI document (`docs/openapi.json`,
 * into `src/schema.ts` by openapi-typescript at build); requests go through openapi-fetch with a
 * retrying fetch; events are parsed by eventsource-parser; webhooks are checked with the Standard
 * Webhooks library.
 *
 * ```ts
 * const studio = new ImageStudio({ baseUrl: "http://127.0.0.1:8000", apiKey: process.env.IMAGESTUDIO_API_KEY! });
 * const outputs = await studio.run("social", { image: new Blob([bytes], { type: "image/png" }), formats: ["instagram.story"] });
 * ```
 */
export type { components, operations, paths } from "./schema.js";
export * from "./types.js";
export * from "./errors.js";
export { RETRY_STATUSES, retryingFetch, type RetryOptions } from "./http.js";
export { isTerminal, type StreamOptions } from "./events.js";
export { API_PREFIX, Assets, Catalogue, Personas, Webhooks, type SigningSecretOptions } from "./resources.js";
export {
  ImageStudio,
  type BatchResult,
  type DownloadOptions,
  type DownloadedOutput,
  type ImageStudioOptions,
  type SubmitOptions,
  type WaitOptions,
} from "./client.js";
export { verifyWebhook, type WebhookEvent, type WebhookOutput } from "./webhooks.js";

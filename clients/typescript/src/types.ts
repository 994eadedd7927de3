/** The request and answer types, each an alias of a schema generated from `docs/openapi.json`. */
import type { components, operations } from "./schema.js";

type Schemas = components["schemas"];

export type Job = Schemas["JobRead"];
export type JobStatus = Schemas["JobStatus"];
export type JobPage = Schemas["JobPage"];
export type JobOutput = Schemas["JobOutput"];
export type Studio = Schemas["Studio"];
export type Upload = Schemas["UploadRead"];
export type PresignedUpload = Schemas["UploadPresigned"];
export type UploadPage = Schemas["UploadPage"];
/** A job's priority (`low`, `normal`, `high`): which a tenant may use is in `Credits.priorities`. */
export type Priority = Schemas["Priority"];
export type BatchJob = Schemas["BatchJob"];
export type Estimate = Schemas["Estimate"];
export type Credits = Schemas["CreditsRead"];
export type Asset = Schemas["AssetRead"];
export type AssetPatch = Schemas["AssetPatch"];
export type BulkAction = Schemas["BulkAction"];
export type BulkResponse = Schemas["BulkResponse"];
export type Persona = Schemas["PersonaRead"];
export type PersonaCreate = Schemas["PersonaCreate"];
export type PersonaPatch = Schemas["PersonaPatch"];
export type WebhookEndpoint = Schemas["WebhookEndpointRead"];
export type WebhookEndpointWithSecret = Schemas["WebhookEndpointWithSecret"];
export type WebhookEndpointCreate = Schemas["WebhookEndpointCreate"];
export type WebhookEndpointPatch = Schemas["WebhookEndpointPatch"];
export type WebhookDelivery = Schemas["WebhookDeliveryRead"];
export type DeliveryStatus = Schemas["DeliveryStatus"];

/** The JSON body of a job-submitting operation (images named by upload id or `https://` URL). */
type JsonBody<Op extends keyof operations> = NonNullable<operations[Op]["requestBody"]>["content"]["application/json"];
/**
 * A request whose image fields may each be an upload id, an `https://` URL (fetched by the service's
 * worker; a failed fetch fails the job with a problem naming the field) or the image itself (then
 * sent as multipart).
 */
type WithImages<Body, Fields extends keyof Body> = Omit<Body, Fields> & {
  [Field in Fields]: undefined extends Body[Field] ? string | Blob | null | undefined : string | Blob;
};

/** The JSON body of `POST /create`: with `init_image` (an upload id or a URL) and `strength` 0-1 it is image to image. */
export type CreateRequest = JsonBody<"create_images">;
export type CreateInput = WithImages<CreateRequest, "init_image">;
/** The JSON body of `POST /edit`: the `operation` and its image (and `mask`), as upload ids or URLs. */
export type EditRequest = JsonBody<"edit_submit">;
export type EditInput = WithImages<EditRequest, Extract<keyof EditRequest, "image" | "mask" | "background_reference" | "light_reference">>;
/** The JSON body of `POST /upscale`: `mode` (`fast`, `conservative`, `creative`) and the image. */
export type UpscaleRequest = JsonBody<"upscale_submit">;
export type UpscaleInput = WithImages<UpscaleRequest, "image">;
/** The JSON body of `POST /social/optimize`: `image` is an upload id or a URL. */
export type SocialOptimizeRequest = JsonBody<"social_optimize">;
export type SocialOptimizeInput = WithImages<SocialOptimizeRequest, "image">;
/** A format sized by the request, beside catalogue keys in `formats`: `{ name, width, height, safe_zone?, max_bytes? }`. */
export type CustomFormat = Exclude<NonNullable<SocialOptimizeRequest["formats"]>[number], string>;
/** A crop set by hand for one format, in source pixels (`crops: { "instagram.story": box }`): the format's aspect ratio. */
export type CropBox = NonNullable<SocialOptimizeRequest["crops"]>[string];
/** The JSON body of `POST /social/plan`: the image and formats of a social job (its crops, nothing rendered). */
export type SocialPlanRequest = JsonBody<"social_plan">;
export type SocialPlanInput = WithImages<SocialPlanRequest, "image">;
/** Every chosen format's crop of one image: source size, crop mode and a `FormatPlan` per format. */
export type SocialPlan = Schemas["SocialPlan"];
/**
 * One format's crop box, zoom, subject and face boxes and safe-zone placement (boxes in source pixels);
 * `zoom_limit` says what held the zoom, so a subject outside the safe zone says why.
 */
export type FormatPlan = Schemas["FormatPlan"];
/** The JSON body of `POST /control`: the operation, its images (upload ids or URLs) and strengths. */
export type ControlRequest = JsonBody<"control_submit">;
export type ControlInput = WithImages<ControlRequest, "image" | "style_image">;
/** The JSON body of `POST /compress`: one of `quality`, `target_kb`, `target_ssim` or `preset`. */
export type CompressRequest = JsonBody<"compress_submit">;
export type CompressInput = WithImages<CompressRequest, "image">;
/** The JSON body of `POST /convert`: the target `format`, transparency, colour space. */
export type ConvertRequest = JsonBody<"compress_submit_convert">;
export type ConvertInput = WithImages<ConvertRequest, "image">;

/** What each studio's method takes, by the name a batch entry or `run` uses. */
export interface StudioInputs {
  create: CreateInput;
  edit: EditInput;
  upscale: UpscaleInput;
  social: SocialOptimizeInput;
  control: ControlInput;
  compress: CompressInput;
  convert: ConvertInput;
}
export type StudioName = keyof StudioInputs;
/** True when two unions hold the same members. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/**
 * Compiles only while `StudioName` is the document's batch studios (`BatchJob.studio`, written from the
 * service's studio registry): a studio added there fails this build until it has its input type here.
 */
type StudioNamesAreTheDocuments<T extends true> = T;
export type StudioNamesChecked = StudioNamesAreTheDocuments<Same<StudioName, Schemas["BatchJob"]["studio"]>>;

/** The statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled", "expired"];

/** One event of a job's stream (`GET /jobs/{id}/events`); `id` resumes the stream. */
export interface JobEvent {
  id: number;
  job_id: string;
  type: `job.${JobStatus}` | "job.progress" | (string & {});
  created_at: string;
  data: Record<string, unknown>;
}

/** A job's state while waiting: status, progress in 0..1 and the worker's message. */
export interface JobProgress {
  jobId: string;
  status: JobStatus;
  progress: number;
  message: string;
}

/** Bytes fetched so far of a job's downloads. */
export interface TransferProgress {
  doneBytes: number;
  totalBytes: number;
}

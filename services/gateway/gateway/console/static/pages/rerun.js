// "Run again" for any job, whoever sent it: the request rebuilt from the job's stored params
// (GET /jobs/{id}) and its images copied into uploads on the server (POST /uploads {job_id, field}).
import { ApiError, get, openapi, post, sentFor } from "../api.js";
import { STUDIOS } from "../studios.js";

/** Each studio's route; compress's convert jobs go to /convert (studios.js, from the registry). */
export const STUDIO_PATH = Object.fromEntries(STUDIOS.map((s) => [s.name, s.path]));

/** The image fields each studio's request takes (the job's inputs under the same names). */
const IMAGE_FIELDS = Object.fromEntries(STUDIOS.map((s) => [s.name, s.images]));

/** Where a studio's stored params differ from its request: the request's fields from the params. */
const FROM_PARAMS = {
  create: (p) => ({ ...p, prompt: p.prompt_original ?? p.prompt, negative_prompt: p.negative_prompt_original ?? p.negative_prompt,
    quality: p.quality_source === "request" ? p.quality : undefined }),
  social: (p) => ({
    ...p,
    focal_x: p.focal_point?.[0], focal_y: p.focal_point?.[1],
    formats: p.formats.map((key) => (p.custom_formats || []).find((c) => `custom.${c.name}` === key) || key),
    crops: p.crops && Object.keys(p.crops).length
      ? Object.fromEntries(Object.entries(p.crops).map(([key, [x, y, width, height]]) => [key, { x, y, width, height }]))
      : undefined,
  }),
  // Only the fields the operation takes (its catalogue entry): the params keep every field's default.
  edit: async (p) => {
    const { operations } = await get("/edit/operations");
    const taken = new Set(["operation", ...Object.keys(operations.find((o) => o.id === p.operation)?.inputs || {})]);
    return Object.fromEntries(Object.entries(p).filter(([k]) => taken.has(k)));
  },
  control: (p) => ({ ...p, ...(p.strengths || {}) }),
  // The params hold the background a flattening would use even when none was asked.
  convert: (p) => ({ ...p, background: p.transparency === "flatten" ? p.background : undefined }),
  // One of quality, target_kb, target_ssim or preset: the one the job's mode says it was asked.
  compress: (p) => ({
    ...p,
    quality: !p.preset && p.mode === "quality" ? p.quality : undefined,
    target_kb: p.mode === "target_kb" ? p.target_kb : undefined,
    target_ssim: p.mode === "target_ssim" ? p.target_ssim : undefined,
    format: p.preset ? undefined : p.format,
  }),
};

/** The fields each route's JSON request declares, from /openapi.json (read once). */
async function fieldsOf(path) {
  const spec = await openapi();
  let schema = spec.paths[`/api/image-studio${path}`].post.requestBody.content["application/json"].schema;
  if (schema.$ref) schema = spec.components.schemas[schema.$ref.split("/").pop()];
  return new Set(Object.keys(schema.properties || {}));
}

/** An upload of the image ``job`` was given as ``field``, or null when it was given none. */
async function inputUpload(job, field) {
  try {
    return (await post("/uploads", { job_id: job.id, field })).id;
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && err.problem?.field === "field") return null;
    throw err;
  }
}

/**
 * What to send to run ``job`` again: exactly what this browser sent (any tab), else the request
 * rebuilt from the job's params, limited to the fields the route declares, its images uploaded anew
 * from the job's own inputs. ``{ path, body }``.
 */
export async function resubmittable(job) {
  const sent = sentFor(job.id);
  if (sent) return sent;
  const studio = job.studio === "compress" && job.params.operation === "convert" ? "convert" : job.studio;
  const path = STUDIO_PATH[studio];
  const fields = await fieldsOf(path);
  const params = await (FROM_PARAMS[studio] || ((p) => p))(job.params);
  const body = Object.fromEntries(Object.entries(params).filter(([k, v]) => fields.has(k) && v !== null && v !== undefined));
  for (const field of IMAGE_FIELDS[studio]) {
    const id = await inputUpload(job, field);
    if (id) body[field] = id;
    else delete body[field];
  }
  return { path, body };
}

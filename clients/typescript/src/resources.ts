/**
 * The API beside jobs, one class per domain, reached through the client (`studio.webhooks`,
 * `studio.assets`, `studio.personas`, `studio.templates`): thin typed calls through openapi-fetch.
 */
import type { Client } from "openapi-fetch";

import { unwrap } from "./errors.js";
import type { paths } from "./schema.js";
import type {
  Asset,
  AssetPatch,
  BulkAction,
  BulkResponse,
  DeliveryStatus,
  Persona,
  PersonaCreate,
  PersonaPatch,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointCreate,
  WebhookEndpointPatch,
  WebhookEndpointWithSecret,
} from "./types.js";

/** The path prefix of every API route. */
export const API_PREFIX = "/api/image-studio";

type Api = Client<paths>;

/** Page after page of a cursor-paged list, as one stream of items. */
export async function* paged<T>(page: (cursor: string | null) => Promise<{ items: T[]; next_cursor?: string | null }>): AsyncGenerator<T> {
  let cursor: string | null = null;
  do {
    const answer = await page(cursor);
    yield* answer.items;
    cursor = answer.next_cursor ?? null;
  } while (cursor);
}

export interface SigningSecretOptions {
  /** When the secret was shown before (it is shown once), rotate for a new one instead of answering null. */
  rotateIfShown?: boolean;
}

/** Webhook endpoints, their deliveries, and the secret that signs a job's own `webhook_url`. */
export class Webhooks {
  constructor(private readonly api: Api) {}

  /**
   * The secret that signs deliveries to a job's own `webhook_url`. The service shows it once (then
   * it is encrypted at rest): null after that, unless `rotateIfShown` asks for a new one (the old
   * one keeps verifying for the grace period). Keep it in your app's secrets, not in code.
   */
  async signingSecret(options: SigningSecretOptions & { rotateIfShown: true }): Promise<string>;
  async signingSecret(options?: SigningSecretOptions): Promise<string | null>;
  async signingSecret(options: SigningSecretOptions = {}): Promise<string | null> {
    const shown = unwrap(await this.api.GET(`${API_PREFIX}/webhooks/default/secret`)).secret ?? null;
    if (shown || !options.rotateIfShown) return shown;
    return this.rotateSigningSecret();
  }

  /** A new signing secret; the previous one keeps verifying for `graceSeconds` (default 24 h). */
  async rotateSigningSecret(graceSeconds?: number): Promise<string> {
    const body = graceSeconds === undefined ? undefined : { grace_seconds: graceSeconds };
    const secret = unwrap(await this.api.POST(`${API_PREFIX}/webhooks/default/secret/rotate`, { body })).secret;
    if (!secret) throw new Error("the service answered a rotation without its new secret");
    return secret;
  }

  /** Register an endpoint for the tenant's job events; the answer holds its `secret`, shown this once. */
  async createEndpoint(endpoint: WebhookEndpointCreate): Promise<WebhookEndpointWithSecret> {
    return unwrap(await this.api.POST(`${API_PREFIX}/webhooks/endpoints`, { body: endpoint }));
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    return unwrap(await this.api.GET(`${API_PREFIX}/webhooks/endpoints`)).items;
  }

  async getEndpoint(endpointId: string): Promise<WebhookEndpoint> {
    return unwrap(await this.api.GET(`${API_PREFIX}/webhooks/endpoints/{endpoint_id}`, { params: { path: { endpoint_id: endpointId } } }));
  }

  async updateEndpoint(endpointId: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint> {
    return unwrap(
      await this.api.PATCH(`${API_PREFIX}/webhooks/endpoints/{endpoint_id}`, { params: { path: { endpoint_id: endpointId } }, body: patch }),
    );
  }

  /** Stop sending to an endpoint (kept, with its deliveries; `enableEndpoint` resumes). */
  async disableEndpoint(endpointId: string): Promise<WebhookEndpoint> {
    return this.updateEndpoint(endpointId, { enabled: false });
  }

  async enableEndpoint(endpointId: string): Promise<WebhookEndpoint> {
    return this.updateEndpoint(endpointId, { enabled: true });
  }

  async deleteEndpoint(endpointId: string): Promise<void> {
    unwrap(await this.api.DELETE(`${API_PREFIX}/webhooks/endpoints/{endpoint_id}`, { params: { path: { endpoint_id: endpointId } } }));
  }

  /** A new secret for an endpoint, shown once; the old one also signs for `graceSeconds`. */
  async rotateEndpointSecret(endpointId: string, graceSeconds?: number): Promise<WebhookEndpointWithSecret> {
    const body = graceSeconds === undefined ? undefined : { grace_seconds: graceSeconds };
    return unwrap(
      await this.api.POST(`${API_PREFIX}/webhooks/endpoints/{endpoint_id}/rotate-secret`, { params: { path: { endpoint_id: endpointId } }, body }),
    );
  }

  /** Every delivery matching the filters, newest first, page after page. */
  deliveries(filters: { jobId?: string; endpointId?: string; status?: DeliveryStatus; pageSize?: number } = {}): AsyncGenerator<WebhookDelivery> {
    return paged(async (cursor) =>
      unwrap(
        await this.api.GET(`${API_PREFIX}/webhooks/deliveries`, {
          params: {
            query: { job_id: filters.jobId, endpoint_id: filters.endpointId, status: filters.status, limit: filters.pageSize ?? 100, cursor },
          },
        }),
      ),
    );
  }

  /** Send a delivery again, with the same `webhook-id` (receivers dedupe on it); answers it, queued. */
  async redeliver(deliveryId: string): Promise<WebhookDelivery> {
    return unwrap(
      await this.api.POST(`${API_PREFIX}/webhooks/deliveries/{delivery_id}/redeliver`, { params: { path: { delivery_id: deliveryId } } }),
    );
  }
}

/** The tenant's library of outputs: list, read, favourite, tag, delete, and the same in bulk. */
export class Assets {
  constructor(private readonly api: Api) {}

  /** Every asset matching the filters, page after page. */
  list(filters: NonNullable<paths["/api/image-studio/assets"]["get"]["parameters"]["query"]> = {}): AsyncGenerator<Asset> {
    return paged(async (cursor) =>
      unwrap(await this.api.GET(`${API_PREFIX}/assets`, { params: { query: { limit: 100, ...filters, cursor } } })),
    );
  }

  async get(assetId: string): Promise<Asset> {
    return unwrap(await this.api.GET(`${API_PREFIX}/assets/{asset_id}`, { params: { path: { asset_id: assetId } } }));
  }

  /** Set an asset's tags (the whole list) or favourite flag. */
  async update(assetId: string, patch: AssetPatch): Promise<Asset> {
    return unwrap(await this.api.PATCH(`${API_PREFIX}/assets/{asset_id}`, { params: { path: { asset_id: assetId } }, body: patch }));
  }

  async favorite(assetId: string, favorite = true): Promise<Asset> {
    const params = { params: { path: { asset_id: assetId } } };
    return unwrap(
      favorite
        ? await this.api.POST(`${API_PREFIX}/assets/{asset_id}/favorite`, params)
        : await this.api.DELETE(`${API_PREFIX}/assets/{asset_id}/favorite`, params),
    );
  }

  async delete(assetId: string): Promise<void> {
    unwrap(await this.api.DELETE(`${API_PREFIX}/assets/{asset_id}`, { params: { path: { asset_id: assetId } } }));
  }

  /** One action over many assets (`favorite`, `unfavorite`, `tag`, `untag`, `delete`); each answered on its own. */
  async bulk(action: BulkAction): Promise<BulkResponse> {
    return unwrap(await this.api.POST(`${API_PREFIX}/assets/bulk`, { body: action }));
  }
}

/** Brand personas a create job may name (`persona_id`). */
export class Personas {
  constructor(private readonly api: Api) {}

  async create(persona: PersonaCreate): Promise<Persona> {
    return unwrap(await this.api.POST(`${API_PREFIX}/personas`, { body: persona }));
  }

  async list(): Promise<Persona[]> {
    return unwrap(await this.api.GET(`${API_PREFIX}/personas`)).items;
  }

  async get(personaId: string): Promise<Persona> {
    return unwrap(await this.api.GET(`${API_PREFIX}/personas/{persona_id}`, { params: { path: { persona_id: personaId } } }));
  }

  async update(personaId: string, patch: PersonaPatch): Promise<Persona> {
    return unwrap(await this.api.PATCH(`${API_PREFIX}/personas/{persona_id}`, { params: { path: { persona_id: personaId } }, body: patch }));
  }

  async delete(personaId: string): Promise<void> {
    unwrap(await this.api.DELETE(`${API_PREFIX}/personas/{persona_id}`, { params: { path: { persona_id: personaId } } }));
  }
}

/** The template catalogue a create job may name (`template_id`), and the providers behind the studios. */
export class Catalogue {
  constructor(private readonly api: Api) {}

  async templates(filters: { platform?: string; category?: string } = {}): Promise<Record<string, unknown>> {
    return unwrap(await this.api.GET(`${API_PREFIX}/templates`, { params: { query: filters } })) as Record<string, unknown>;
  }

  async searchTemplates(q: string, limit?: number): Promise<Record<string, unknown>> {
    return unwrap(await this.api.GET(`${API_PREFIX}/templates/search`, { params: { query: { q, limit } } })) as Record<string, unknown>;
  }

  async template(templateId: string): Promise<Record<string, unknown>> {
    return unwrap(
      await this.api.GET(`${API_PREFIX}/templates/{template_id}`, { params: { path: { template_id: templateId } } }),
    ) as Record<string, unknown>;
  }

  async providers(kind?: "generate" | "edit" | "upscale" | "control"): Promise<Record<string, unknown>> {
    return unwrap(await this.api.GET(`${API_PREFIX}/providers`, { params: { query: { kind } } })) as Record<string, unknown>;
  }
}

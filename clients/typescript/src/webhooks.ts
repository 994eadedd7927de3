/** Verify a webhook (Standard Webhooks signature, through the `standardwebhooks` library) and read its event. */
import { Webhook } from "standardwebhooks";

import { WebhookVerificationError, type Problem } from "./errors.js";
import type { JobStatus } from "./types.js";

/** One output in a `job.succeeded` webhook (a fresh download link; no id or byte count). */
export interface WebhookOutput {
  name: string;
  kind: string;
  content_type: string;
  width: number | null;
  height: number | null;
  url: string;
  expires_at: string;
}

/** A webhook's body: one job event (Standard Webhooks payload). */
export interface WebhookEvent {
  type: `job.${JobStatus}`;
  timestamp: string;
  data: {
    id: string;
    status: JobStatus;
    studio: string;
    created_at: string | null;
    finished_at: string | null;
    error: Problem | null;
    /** The outputs, on `job.succeeded`; see `outputs_truncated`. */
    outputs: WebhookOutput[];
    /** True when the outputs did not all fit in the payload: get the job for the rest. */
    outputs_truncated: boolean;
    links: { self: string };
  };
}

/**
 * Check a webhook's signature and timestamp (Standard Webhooks) and answer its event.
 *
 * `payload` is the raw request body, exactly as received (parse it only after this); `headers`
 * must hold `webhook-id`, `webhook-timestamp` and `webhook-signature`. Throws
 * {@link WebhookVerificationError} when the signature does not match or the timestamp is too old.
 */
export function verifyWebhook(
  secret: string,
  payload: string | Uint8Array,
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
  let verifier: Webhook;
  try {
    verifier = new Webhook(secret);
  } catch (error) {
    throw new WebhookVerificationError("the secret is not a Standard Webhooks secret (whsec_...)", { cause: error });
  }
  const body = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
  try {
    const event = verifier.verify(body, plain) as WebhookEvent;
    // Events other than job.succeeded carry no outputs: the type promises a list all the same.
    const data: Partial<WebhookEvent["data"]> = event.data;
    return { ...event, data: { ...event.data, outputs: data.outputs ?? [], outputs_truncated: data.outputs_truncated ?? false } };
  } catch (error) {
    throw new WebhookVerificationError(error instanceof Error ? error.message : "the webhook's signature does not verify", { cause: error });
  }
}

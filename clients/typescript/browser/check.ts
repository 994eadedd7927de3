// The client in a browser: bundled by esbuild for the page tests/clients/typescript opens in
// headless Chromium. It uses no Node API: a webhook signed and verified, a submission retried
// after a 429 and a 503 with one Idempotency-Key, and a Blob sent as a multipart form, all
// against a scripted fetch (the page has no service to reach). The outcome goes to #result.
import { Webhook } from "standardwebhooks";

import { ImageStudio, WebhookVerificationError, verifyWebhook } from "../src/index.js";

async function check(): Promise<Record<string, unknown>> {
  const secret = "whsec_" + btoa("a browser's secret 0123456789abcdef");
  const body = JSON.stringify({ type: "job.succeeded", timestamp: new Date().toISOString(), data: { id: "job-1", status: "succeeded", studio: "social" } });
  const sent = new Date();
  const signature = new Webhook(secret).sign("msg_1", sent, body);
  const headers = { "webhook-id": "msg_1", "webhook-timestamp": String(Math.floor(sent.getTime() / 1000)), "webhook-signature": signature };
  const event = verifyWebhook(secret, body, headers);
  let refused = false;
  try {
    verifyWebhook(secret, body.replace("job-1", "job-2"), headers);
  } catch (error) {
    refused = error instanceof WebhookVerificationError;
  }

  const answers = [
    new Response("{}", { status: 429, headers: { "retry-after": "0" } }),
    new Response("{}", { status: 503, headers: { "retry-after": "0" } }),
    new Response(JSON.stringify({ id: "job-2", status: "queued", studio: "social", outputs: [] }), { status: 202 }),
  ];
  const keys: (string | null)[] = [];
  const types: (string | null)[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    keys.push(request.headers.get("idempotency-key"));
    types.push(request.headers.get("content-type"));
    return answers.shift() ?? new Response("{}", { status: 500 });
  };
  const studio = new ImageStudio({ baseUrl: "https://gateway.example", apiKey: "isk_browser", fetch });
  const image = new Blob([new Uint8Array([137, 80, 78, 71])], { type: "image/png" });
  const job = await studio.socialOptimize({ image, formats: ["instagram.story"] });
  return {
    verified: [event.type, event.data.id, event.data.outputs.length],
    refused,
    job: job.id,
    tries: keys.length,
    oneKey: new Set(keys).size === 1 && Boolean(keys[0]),
    multipart: types.every((type) => type?.startsWith("multipart/form-data")),
  };
}

const result = document.getElementById("result")!;
check().then(
  (outcome) => (result.textContent = JSON.stringify(outcome)),
  (error: unknown) => (result.textContent = JSON.stringify({ error: String(error) })),
);

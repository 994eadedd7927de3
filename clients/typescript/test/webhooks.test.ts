// Webhooks against a live gateway: the signing secret, a real delivery verified with its outputs,
// endpoints (create, list, rotate, disable) and deliveries (list, redeliver). The gateway must allow
// loopback URLs (IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK=true), where this suite listens.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { WebhookVerificationError, verifyWebhook, type WebhookDelivery } from "../src/index.js";
import { WAIT, newClient, photo } from "./support.js";

interface Received {
  path: string;
  body: string;
  headers: IncomingHttpHeaders;
}

const received: Received[] = [];
const waiters: (() => void)[] = [];
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    received.push({ path: request.url ?? "", body: Buffer.concat(chunks).toString("utf8"), headers: request.headers });
    response.writeHead(204).end();
    waiters.splice(0).forEach((wake) => wake());
  });
});
let base = "";

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

/** The first delivery to `path` that `accept` takes, waiting for it as they arrive. */
async function delivery(path: string, accept: (r: Received) => boolean): Promise<Received> {
  const deadline = Date.now() + WAIT.timeoutMs;
  for (;;) {
    const found = received.find((r) => r.path === path && accept(r));
    if (found) return found;
    assert.ok(Date.now() < deadline, `no delivery to ${path}; got ${received.map((r) => r.path).join(", ")}`);
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 500).unref();
    });
  }
}

const succeededFor = (secret: string, jobId: string) => (r: Received) => {
  const event = verifyWebhook(secret, r.body, r.headers);
  return event.type === "job.succeeded" && event.data.id === jobId;
};

describe("webhooks", () => {
  it("shows the signing secret once, then null, and a new one on request", async () => {
    const studio = newClient();
    const first = await studio.signingSecret();
    assert.match(first ?? "", /^whsec_/);
    assert.equal(await studio.signingSecret(), null); // shown once: a second run does not throw
    const rotated = await studio.signingSecret({ rotateIfShown: true });
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, first);
  });

  it("verifies a real delivery, with its outputs, and refuses a tampered or foreign one", async () => {
    const studio = newClient();
    const secret = await studio.rotateSigningSecret(0);
    const job = await studio.socialOptimize({
      image: photo(),
      formats: ["instagram.story"],
      zip: false,
      webhook_url: `${base}/own`,
      webhook_events: ["job.succeeded"],
    });
    const hook = await delivery("/own", succeededFor(secret, job.id));
    const event = verifyWebhook(secret, hook.body, hook.headers);
    assert.equal(event.data.status, "succeeded");
    assert.deepEqual(event.data.outputs.map((output) => [output.name, output.width, output.height]), [["instagram.story", 1080, 1920]]);
    assert.equal(event.data.outputs_truncated, false);
    assert.throws(() => verifyWebhook(secret, hook.body.replace("succeeded", "failed"), hook.headers), WebhookVerificationError);
    const other = "whsec_" + Buffer.from("another tenant's secret 0123456789").toString("base64");
    assert.throws(() => verifyWebhook(other, hook.body, hook.headers), WebhookVerificationError);
    assert.throws(() => verifyWebhook("not-a-secret", hook.body, hook.headers), WebhookVerificationError);
  });

  it("registers an endpoint, delivers to it, redelivers, rotates its secret and disables it", async () => {
    const studio = newClient();
    const endpoint = await studio.webhooks.createEndpoint({ url: `${base}/endpoint`, event_types: ["job.succeeded"], description: "ts suite" });
    assert.match(endpoint.secret, /^whsec_/);
    assert.deepEqual((await studio.webhooks.listEndpoints()).map((listed) => listed.id), [endpoint.id]);
    const job = await studio.compress({ image: photo(), quality: 50 });
    await delivery("/endpoint", succeededFor(endpoint.secret, job.id));

    // The delivery is recorded as sent a moment after the receiver answered: wait for that state.
    let deliveries: WebhookDelivery[] = [];
    for (let tries = 0; tries < 100 && deliveries[0]?.status !== "succeeded"; tries++) {
      if (tries) await new Promise((resolve) => setTimeout(resolve, 100));
      deliveries = [];
      for await (const item of studio.webhooks.deliveries({ jobId: job.id, endpointId: endpoint.id })) deliveries.push(item);
    }
    assert.deepEqual(deliveries.map((item) => item.status), ["succeeded"]);
    const count = received.filter((r) => r.path === "/endpoint").length;
    const again = await studio.webhooks.redeliver(deliveries[0]!.id);
    assert.equal(again.id, deliveries[0]!.id); // the same delivery, sent again with the same webhook-id
    await delivery("/endpoint", () => received.filter((r) => r.path === "/endpoint").length > count);
    const ids = received.filter((r) => r.path === "/endpoint").map((r) => r.headers["webhook-id"]);
    assert.equal(new Set(ids).size, 1);

    const rotated = await studio.webhooks.rotateEndpointSecret(endpoint.id, 0);
    assert.notEqual(rotated.secret, endpoint.secret);
    const disabled = await studio.webhooks.disableEndpoint(endpoint.id);
    assert.equal(disabled.enabled, false);
    assert.equal((await studio.webhooks.getEndpoint(endpoint.id)).enabled, false);
    await studio.webhooks.deleteEndpoint(endpoint.id);
    assert.deepEqual(await studio.webhooks.listEndpoints(), []);
  });
});

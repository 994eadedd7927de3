// Runs against a live gateway: IMAGESTUDIO_URL, IMAGESTUDIO_API_KEY and IMAGESTUDIO_TEST_IMAGE (a PNG)
// are set by tests/e2e/test_typescript_client.py, which starts `imagestudio up` for it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { ImageStudio, ImageStudioError, verifyWebhook, type Job } from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (tests/e2e/test_typescript_client.py sets it)`);
  return value;
}

const studio = new ImageStudio({ baseUrl: required("IMAGESTUDIO_URL"), apiKey: required("IMAGESTUDIO_API_KEY") });
const png = readFileSync(required("IMAGESTUDIO_TEST_IMAGE"));
const image = (): Blob => new Blob([png], { type: "image/png" });

function assertStoryOutput(job: Job): void {
  assert.equal(job.status, "succeeded", JSON.stringify(job.error));
  const story = job.outputs.find((output) => output.width === 1080 && output.height === 1920);
  assert.ok(story, `no 1080x1920 output in ${JSON.stringify(job.outputs)}`);
}

describe("jobs", () => {
  it("submits a social job with the image as multipart and waits for it", async () => {
    const job = await studio.socialOptimize({ image: image(), formats: ["instagram.story"], zip: false });
    assert.equal(job.studio, "social");
    assert.ok(["queued", "running", "succeeded"].includes(job.status));
    assertStoryOutput(await studio.waitForJob(job.id, { timeoutMs: 120_000, initialDelayMs: 50 }));
  });

  it("uploads once and submits by upload id as JSON", async () => {
    const upload = await studio.uploadImage(image(), "photo.png");
    assert.match(upload.id, /^upl_/);
    assert.equal(upload.width, 800);
    const job = await studio.socialOptimize({ image: upload.id, formats: ["instagram.story"], zip: false });
    assertStoryOutput(await studio.waitForJob(job.id, { timeoutMs: 120_000, initialDelayMs: 50 }));
  });

  it("submits a create job and gets its images", async () => {
    const job = await studio.create({ prompt: "a lighthouse at dawn", count: 2 });
    const done = await studio.waitForJob(job.id, { timeoutMs: 120_000, initialDelayMs: 50 });
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(done.outputs.length, 2);
  });

  it("submits image to image in create, by upload id and as a file", async () => {
    const upload = await studio.uploadImage(image(), "init.png");
    const byId = await studio.create({ prompt: "the same scene at night", init_image: upload.id, strength: 0, provider: "stability" });
    const asFile = await studio.create({ prompt: "the same scene in snow", init_image: image(), strength: 0.4, count: 2 });
    for (const [job, strength, count] of [[byId, 0, 1], [asFile, 0.4, 2]] as const) {
      const done = await studio.waitForJob(job.id, { timeoutMs: 120_000, initialDelayMs: 50 });
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));
      assert.equal(done.outputs.length, count);
      for (const output of done.outputs) {
        assert.equal(output.metadata.image_to_image, true);
        assert.equal(output.metadata.strength, strength); // an explicit 0 is kept, not replaced by a default
      }
    }
  });

  it("submits a structure control job and gets the control map beside the image", async () => {
    const job = await studio.control({ operation: "structure", image: image(), prompt: "a glass house", control_strength: 0 });
    assert.equal(job.studio, "control");
    const done = await studio.waitForJob(job.id, { timeoutMs: 120_000, initialDelayMs: 50 });
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.deepEqual(done.outputs.map((output) => output.name).sort(), ["control_map", "controlled"]);
    const map = done.outputs.find((output) => output.name === "control_map");
    assert.equal(map?.format, "png");
  });

  it("compresses to a target SSIM and converts to WebP", async () => {
    const upload = await studio.uploadImage(image(), "photo.png");
    const compressed = await studio.compress({ image: upload.id, format: "jpeg", target_ssim: 0.98 });
    const converted = await studio.convert({ image: image(), format: "webp" });
    const small = await studio.waitForJob(compressed.id, { timeoutMs: 120_000, initialDelayMs: 50 });
    const webp = await studio.waitForJob(converted.id, { timeoutMs: 120_000, initialDelayMs: 50 });
    assert.equal(small.status, "succeeded", JSON.stringify(small.error));
    assert.equal(webp.status, "succeeded", JSON.stringify(webp.error));
    assert.deepEqual([small.studio, webp.studio], ["compress", "compress"]);
    const meta = small.outputs[0]!.metadata as Record<string, number>;
    assert.ok(meta.ssim! >= 0.98, JSON.stringify(meta));
    assert.equal(small.outputs[0]!.format, "jpeg");
    assert.equal(webp.outputs[0]!.format, "webp");
    assert.equal(webp.outputs[0]!.width, 800);
    await assert.rejects(
      studio.compress({ image: upload.id, target_ssim: 1.5 }),
      (error: unknown) => error instanceof ImageStudioError && error.status === 422 && error.problem.field === "target_ssim",
    );
  });

  it("same Idempotency-Key makes one job", async () => {
    const key = `ts-${Date.now()}-${Math.random()}`;
    const first = await studio.create({ prompt: "one job only" }, {
      idempotencyKey: key,
    });
    const again = await studio.create({ prompt: "one job only" }, {
      idempotencyKey: key,
    });
    assert.equal(again.id, first.id);
  });

  it("turns a problem answer into ImageStudioError with its type", async () => {
    await assert.rejects(studio.getJob("00000000-0000-0000-0000-000000000000"), (error: unknown) => {
      assert.ok(error instanceof ImageStudioError);
      assert.equal(error.status, 404);
      assert.equal(error.problem.type, "https://imagestudio.dev/problems/not-found");
      return true;
    });
    await assert.rejects(
      studio.socialOptimize({ image: image(), formats: ["instagram.story"], quality: 101 }),
      (error: unknown) => error instanceof ImageStudioError && error.status === 422 && error.problem.field === "quality",
    );
  });
});

describe("webhooks", () => {
  const received: { body: string; headers: IncomingHttpHeaders }[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ body: Buffer.concat(chunks).toString("utf8"), headers: request.headers });
      response.writeHead(204).end();
      waiters.splice(0).forEach((wake) => wake());
    });
  });
  let hookUrl = "";

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(() => server.close());

  async function deliveryOf(event: string, secret: string, deadlineMs: number): Promise<{ body: string; headers: IncomingHttpHeaders }> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const found = received.find((r) => verifyWebhook(secret, r.body, r.headers).type === event);
      if (found) return found;
      assert.ok(Date.now() < deadline, `no ${event} webhook within ${deadlineMs} ms; got ${received.length}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 500).unref();
      });
    }
  }

  it("verifies a real delivery with the signing secret and refuses a tampered one", async () => {
    const secret = await studio.signingSecret();
    assert.match(secret, /^whsec_/);
    const job = await studio.socialOptimize({
      image: image(),
      formats: ["instagram.story"],
      zip: false,
      webhook_url: hookUrl,
      webhook_events: ["job.succeeded"],
    });
    const delivery = await deliveryOf("job.succeeded", secret, 120_000);
    const event = verifyWebhook(secret, delivery.body, delivery.headers);
    assert.equal(event.data.id, job.id);
    assert.equal(event.data.status, "succeeded");
    assert.throws(() => verifyWebhook(secret, delivery.body.replace("succeeded", "failed"), delivery.headers));
    const other = "whsec_" + Buffer.from("another tenant's secret 0123456789").toString("base64");
    assert.throws(() => verifyWebhook(other, delivery.body, delivery.headers));
  });
});

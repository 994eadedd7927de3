// Every studio, uploads and the job calls against a live gateway (see support.ts).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";

import { ImageStudioError, JobFailedError, type CustomFormat, type Job, type JobEvent, type JobProgress, type TransferProgress } from "../src/index.js";
import { HEIGHT, WAIT, WIDTH, newClient, photo, photoBytes } from "./support.js";

const studio = newClient();

function succeeded(job: Job): Job {
  assert.equal(job.status, "succeeded", JSON.stringify(job.error));
  return job;
}

describe("uploads", () => {
  it("uploads as multipart and through a presigned link, each ready with the photo's size", async () => {
    const direct = await studio.uploadImage(photo(), "photo.png");
    assert.match(direct.id, /^upl_/);
    assert.deepEqual([direct.width, direct.height, direct.state], [WIDTH, HEIGHT, "ready"]);
    const presigned = await studio.uploadPresigned(photo());
    assert.deepEqual([presigned.state, presigned.bytes], ["pending", photoBytes.length]);
    succeeded(await studio.waitForJob((await studio.convert({ image: presigned.id, format: "webp" })).id, WAIT));
    const ready = await studio.getUpload(presigned.id); // checked when a job first named it
    assert.deepEqual([ready.state, ready.width, ready.height], ["ready", WIDTH, HEIGHT]);
    await studio.deleteUpload(direct.id);
    await assert.rejects(studio.getUpload(direct.id), (error: unknown) => error instanceof ImageStudioError && error.status === 404);
  });
});

describe("files, priority and retention", () => {
  it("lists the tenant's uploads page by page, newest first", async () => {
    const first = await studio.uploadImage(photo(), "first.png");
    const second = await studio.uploadImage(photo(), "second.png");
    const listed: string[] = [];
    for await (const upload of studio.listUploads({ pageSize: 1 })) listed.push(upload.id);
    assert.ok(listed.indexOf(second.id) >= 0 && listed.indexOf(second.id) < listed.indexOf(first.id), JSON.stringify(listed));
    assert.equal(new Set(listed).size, listed.length);
  });

  it("submits a high-priority job whose outputs are kept an hour, within the tier's limits", async () => {
    const credits = await studio.credits();
    assert.deepEqual(credits.priorities, ["low", "normal", "high"]);
    const job = await studio.compress({ image: photo(), quality: 70, priority: "high", output_retention_seconds: 3600 });
    assert.deepEqual([job.priority, job.output_retention_seconds], ["high", 3600]);
    const done = succeeded(await studio.waitForJob(job.id, WAIT));
    assert.ok(done.outputs_expire_at, JSON.stringify(done));
    assert.equal(done.outputs_deleted_at, null);
    const tooLong = credits.max_output_retention_seconds + 1;
    await assert.rejects(
      studio.compress({ image: photo(), quality: 70, output_retention_seconds: tooLong }),
      (error: unknown) => error instanceof ImageStudioError && error.status === 403 && error.problem.field === "output_retention_seconds",
    );
  });
});

describe("studios", () => {
  it("runs social from a Blob, reporting progress while it waits", async () => {
    const job = await studio.socialOptimize({ image: photo(), formats: ["instagram.story"], zip: false });
    assert.equal(job.studio, "social");
    const seen: JobProgress[] = [];
    const done = succeeded(await studio.waitForJob(job.id, { ...WAIT, onProgress: (p) => seen.push(p) }));
    assert.ok(done.outputs.some((output) => output.width === 1080 && output.height === 1920), JSON.stringify(done.outputs));
    assert.equal(seen.at(-1)?.status, "succeeded");
    assert.equal(seen.at(-1)?.progress, 1);
  });

  it("plans the crops a social job then renders, custom formats included, by upload id and from a Blob", async () => {
    const banner: CustomFormat = { name: "partner_banner", width: 1200, height: 1500 };
    const upload = await studio.uploadImage(photo(), "photo.png");
    const plan = await studio.socialPlan({ image: upload.id, formats: ["instagram.story", banner] });
    assert.deepEqual([plan.source_width, plan.source_height], [WIDTH, HEIGHT]);
    assert.deepEqual(plan.formats.map((entry) => [entry.format, entry.width, entry.height]), [
      ["instagram.story", 1080, 1920],
      ["custom.partner_banner", 1200, 1500],
    ]);
    const job = succeeded(await studio.waitForJob((await studio.socialOptimize({ image: upload.id, formats: ["instagram.story", banner], zip: false })).id, WAIT));
    assert.deepEqual(
      Object.fromEntries(job.outputs.map((output) => [output.name, output.metadata.crop_box])),
      Object.fromEntries(plan.formats.map((entry) => [entry.format, entry.crop_box])),
    );
    // What held each zoom is reported the same way by the plan and the job.
    assert.deepEqual(
      Object.fromEntries(job.outputs.map((output) => [output.name, output.metadata.zoom_limit])),
      Object.fromEntries(plan.formats.map((entry) => [entry.format, entry.zoom_limit])),
    );
    const fromBlob = await studio.socialPlan({ image: photo(), formats: [banner], focal_x: 0, focal_y: 0.5 });
    assert.equal(fromBlob.formats[0]!.placed_on, "focal_point");
    await assert.rejects(
      studio.socialPlan({ image: upload.id, formats: [{ name: "tiny", width: 4, height: 900 }] }),
      (error: unknown) => error instanceof ImageStudioError && error.status === 422 && String(error.problem.field).startsWith("formats.0"),
    );
  });

  it("runs create, edit, upscale, control, compress and convert by upload id and as files", async () => {
    const upload = await studio.uploadImage(photo(), "photo.png");
    const jobs = {
      create: await studio.create({ prompt: "the same scene in snow", init_image: photo(), strength: 0, count: 2 }),
      edit: await studio.edit({ operation: "remove_background", image: upload.id, path: "local" }),
      upscale: await studio.upscale({ mode: "fast", image: photo(), path: "local" }),
      control: await studio.control({ operation: "structure", image: upload.id, prompt: "a glass house", control_strength: 0 }),
      compress: await studio.compress({ image: upload.id, format: "jpeg", target_ssim: 0.98 }),
      convert: await studio.convert({ image: photo(), format: "webp" }),
    };
    const done = Object.fromEntries(
      await Promise.all(Object.entries(jobs).map(async ([name, job]) => [name, succeeded(await studio.waitForJob(job.id, WAIT))] as const)),
    );
    assert.deepEqual(
      Object.values(done).map((job) => job.studio),
      ["create", "edit", "upscale", "control", "compress", "compress"],
    );
    assert.deepEqual(done.create!.outputs.map((output) => [output.metadata.image_to_image, output.metadata.strength]), [
      [true, 0],
      [true, 0],
    ]); // an explicit 0 is kept, not replaced by a default
    assert.deepEqual([done.upscale!.outputs[0]!.width, done.upscale!.outputs[0]!.height], [WIDTH * 4, HEIGHT * 4]);
    assert.deepEqual(done.control!.outputs.map((output) => output.name).sort(), ["control_map", "controlled"]);
    assert.ok((done.compress!.outputs[0]!.metadata.ssim as number) >= 0.98);
    assert.deepEqual([done.convert!.outputs[0]!.format, done.convert!.outputs[0]!.width], ["webp", WIDTH]);
  });

  it("takes images by URL in every image field: sent as they are, fetched by the service's worker", async () => {
    // A loopback image host (the service runs with IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK=true).
    const host = createServer((request, response) => {
      if (request.url === "/photo.png") response.writeHead(200, { "content-type": "image/png" }).end(photoBytes);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    try {
      const jobs = await Promise.all([
        studio.upscale({ mode: "fast", image: `${url}/photo.png`, path: "local" }),
        studio.convert({ image: `${url}/photo.png`, format: "webp" }),
        studio.compress({ image: `${url}/missing.png`, quality: 70 }),
      ]);
      const [upscaled, converted, missing] = await Promise.all(jobs.map((job) => studio.waitForJob(job.id, WAIT)));
      assert.deepEqual(succeeded(upscaled!).params.image_urls, { image: `${url}/photo.png` });
      assert.deepEqual([upscaled!.outputs[0]!.width, upscaled!.outputs[0]!.height], [WIDTH * 4, HEIGHT * 4]);
      assert.equal(succeeded(converted!).outputs[0]!.format, "webp");
      assert.equal(missing!.status, "failed");
      assert.match(String(missing!.error?.type), /remote-image-unreachable$/);
      assert.equal(missing!.error?.field, "image");
    } finally {
      host.close();
    }
  });

  it("runs a job in one call and answers its outputs; one canceled meanwhile throws JobFailedError", async () => {
    const outputs = await studio.run("convert", { image: photo(), format: "png" }, WAIT);
    assert.deepEqual(outputs.map((output) => [output.format, output.width, output.height]), [["png", WIDTH, HEIGHT]]);
    let cancel: Promise<unknown> | undefined;
    const running = studio.run("create", { prompt: "a slow lighthouse", count: 4 }, {
      ...WAIT,
      onProgress: (progress) => {
        cancel ??= studio.cancelJob(progress.jobId).catch((error: unknown) => error);
      },
    });
    const outcome = await running.catch((error: unknown) => error);
    const canceled = await cancel;
    if (canceled instanceof ImageStudioError) {
      assert.equal(canceled.status, 409); // it had already ended: run answered its outputs
      assert.equal((outcome as unknown[]).length, 4);
    } else {
      assert.ok(outcome instanceof JobFailedError, String(outcome));
      assert.equal(outcome.job.status, "canceled");
    }
  });

  it("sends one Idempotency-Key per submission, made when not given, so a retry is the same job", async () => {
    const key = `ts-${Date.now()}-${Math.random()}`;
    const first = await studio.create({ prompt: "one job only" }, { idempotencyKey: key });
    const again = await studio.create({ prompt: "one job only" }, { idempotencyKey: key });
    assert.equal(again.id, first.id);
    const other = await studio.create({ prompt: "one job only" });
    assert.notEqual(other.id, first.id);
  });
});

describe("jobs", () => {
  it("submits a batch (each entry answered on its own) and lists every page", async () => {
    const upload = await studio.uploadImage(photo());
    const entry = { studio: "compress" as const, params: { image: upload.id, quality: 70 } };
    const batch = await studio.batch([entry, entry, entry, { studio: "convert", params: { image: "upl_missing", format: "png" } }]);
    assert.deepEqual(batch.map((result) => result.status), [202, 202, 202, 422]);
    assert.ok(batch[3]!.error instanceof ImageStudioError);
    assert.equal(batch[3]!.error.problem.field, "image");
    const ids = batch.flatMap((result) => (result.job ? [result.job.id] : []));
    const listed: string[] = [];
    for await (const job of studio.listJobs({ studio: "compress", pageSize: 2 })) listed.push(job.id);
    assert.ok(ids.every((id) => listed.includes(id)), JSON.stringify({ ids, listed }));
    assert.equal(new Set(listed).size, listed.length);
  });

  it("streams a job's events to the end, and resumes after a given event without repeating it", async () => {
    const job = await studio.compress({ image: photo(), quality: 60 });
    const events: JobEvent[] = [];
    for await (const event of studio.streamJobEvents(job.id)) events.push(event);
    assert.equal(events[0]?.type, "job.queued");
    assert.equal(events.at(-1)?.type, "job.succeeded");
    const resumed: JobEvent[] = [];
    for await (const event of studio.streamJobEvents(job.id, { lastEventId: events[0]!.id })) resumed.push(event);
    assert.deepEqual(resumed.map((event) => event.id), events.slice(1).map((event) => event.id));
  });

  it("downloads every output, refreshing a link the store refuses, and checks each size", async () => {
    const job = succeeded(await studio.waitForJob((await studio.socialOptimize({ image: photo(), formats: ["instagram.story", "x.header"], zip: false })).id, WAIT));
    const stale: Job = { ...job, outputs: job.outputs.map((output) => ({ ...output, url: `${output.url}-expired` })) };
    const progress: TransferProgress[] = [];
    const files = await studio.downloadOutputs(stale, { onProgress: (p) => progress.push(p) });
    assert.deepEqual(files.map((file) => file.output.name), job.outputs.map((output) => output.name));
    for (const file of files) {
      assert.equal(file.data.byteLength, file.output.bytes);
      assert.deepEqual([file.output.format, file.data[0], file.data[1]], ["jpeg", 0xff, 0xd8]); // a JPEG's magic
    }
    const total = job.outputs.reduce((sum, output) => sum + output.bytes, 0);
    assert.deepEqual(progress.at(-1), { doneBytes: total, totalBytes: total });
  });

  it("estimates a request's cost and reads the tenant's credits", async () => {
    const estimate = await studio.estimate("create", { prompt: "a kite", count: 3 });
    assert.equal(estimate.studio, "create");
    assert.ok(estimate.total_credits > 0 && estimate.max_credits >= estimate.total_credits, JSON.stringify(estimate));
    const credits = await studio.credits();
    assert.equal(credits.tier, "pro");
    assert.ok(credits.available >= 0);
  });

  it("turns problems into ImageStudioError with status, headers and the problem", async () => {
    await assert.rejects(studio.getJob("00000000-0000-0000-0000-000000000000"), (error: unknown) => {
      assert.ok(error instanceof ImageStudioError);
      assert.equal(error.status, 404);
      assert.equal(error.problem.type, "https://imagestudio.dev/problems/not-found");
      assert.match(error.headers.get("content-type") ?? "", /problem\+json/);
      return true;
    });
    await assert.rejects(
      studio.socialOptimize({ image: photo(), formats: ["instagram.story"], quality: 101 }),
      (error: unknown) => error instanceof ImageStudioError && error.status === 422 && error.problem.field === "quality",
    );
  });
});

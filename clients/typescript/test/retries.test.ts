// The retrying transport, against a scripted fetch (no network): what is retried, how long it
// waits, and that a retried submission keeps its Idempotency-Key.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { APIConnectionError, ImageStudio, ImageStudioError } from "../src/index.js";

const JOB = { id: "job-1", status: "queued", studio: "create", outputs: [] };

/** A fetch answering from a script, recording each request it was sent. */
function scripted(...answers: (Response | Error)[]): { fetch: typeof globalThis.fetch; seen: Request[] } {
  const seen: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    seen.push(new Request(input, init));
    const answer = answers.shift();
    assert.ok(answer, "more requests than the script answers");
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch, seen };
}

const problem = (status: number, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify({ type: "https://imagestudio.dev/problems/rate-limited", title: "Too many", status, detail: "slow down" }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });

const client = (fetch: typeof globalThis.fetch, maxRetries = 3): ImageStudio =>
  new ImageStudio({ baseUrl: "http://gateway.test", apiKey: "isk_test", fetch, maxRetries });

describe("retries", () => {
  it("retries 429, 502-504 and connection errors, honouring Retry-After, with one Idempotency-Key", async () => {
    const { fetch, seen } = scripted(
      problem(429, { "retry-after": "0" }),
      problem(503),
      new TypeError("fetch failed"),
      new Response(JSON.stringify(JOB), { status: 202 }),
    );
    const job = await client(fetch).create({ prompt: "a kite" });
    assert.equal(job.id, "job-1");
    assert.equal(seen.length, 4);
    const keys = new Set(seen.map((request) => request.headers.get("idempotency-key")));
    assert.equal(keys.size, 1);
    assert.match([...keys][0] ?? "", /^isc-/);
    for (const request of seen) assert.deepEqual(await request.json(), { prompt: "a kite" }); // the same body each try
  });

  it("gives the last answer as ImageStudioError with its headers once the tries run out", async () => {
    const { fetch, seen } = scripted(problem(429, { "retry-after": "0" }), problem(429, { "retry-after": "0" }));
    await assert.rejects(client(fetch, 1).getJob("job-1"), (error: unknown) => {
      assert.ok(error instanceof ImageStudioError);
      assert.equal(error.status, 429);
      assert.equal(error.retryAfterSeconds, 0);
      assert.equal(error.problem.detail, "slow down");
      return true;
    });
    assert.equal(seen.length, 2);
  });

  it("does not wait out a Retry-After longer than the cap, nor retry a 4xx or 500", async () => {
    for (const answer of [problem(429, { "retry-after": "3600" }), problem(400), problem(500)]) {
      const { fetch, seen } = scripted(answer);
      await assert.rejects(client(fetch).getJob("job-1"), (error: unknown) => error instanceof ImageStudioError && error.status === answer.status);
      assert.equal(seen.length, 1);
    }
  });

  it("reports an unreachable service as APIConnectionError after the retries", async () => {
    const { fetch, seen } = scripted(new TypeError("fetch failed"), new TypeError("fetch failed"));
    await assert.rejects(client(fetch, 1).getJob("job-1"), APIConnectionError);
    assert.equal(seen.length, 2);
  });
});

describe("options", () => {
  it("refuses a missing address or a placeholder key at once, naming the option", () => {
    const { fetch, seen } = scripted();
    const make = (baseUrl: string | undefined, apiKey: string | undefined) => () =>
      new ImageStudio({ baseUrl: baseUrl as string, apiKey: apiKey as string, fetch });
    assert.throws(make(undefined, "isk_test"), { name: "TypeError", message: /^baseUrl: .*IMAGESTUDIO_URL/ });
    assert.throws(make("127.0.0.1:8000", "isk_test"), { name: "TypeError", message: /^baseUrl: / });
    assert.throws(make("http://gateway.test", undefined), { name: "TypeError", message: /^apiKey: .*IMAGESTUDIO_API_KEY/ });
    assert.throws(make("http://gateway.test", "isk_…"), { name: "TypeError", message: /^apiKey: / }); // the docs' placeholder
    assert.throws(make("http://gateway.test", ""), { name: "TypeError", message: /^apiKey: / });
    assert.ok(make("https://gateway.test/", "isk_A-b_9")());
    assert.equal(seen.length, 0);
  });
});

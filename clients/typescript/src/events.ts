/**
 * A job's live events (Server-Sent Events, parsed by `eventsource-parser`), resumed with
 * `Last-Event-ID` after a dropped connection or a `stream.closed` (the gateway's lifetime cap),
 * so no event is lost or repeated. Reads the body with a reader, which browsers and Node share.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

import { APIConnectionError, ImageStudioError, asProblem } from "./errors.js";
import { sleep } from "./http.js";
import type { JobEvent } from "./types.js";
import { TERMINAL_STATUSES } from "./types.js";

export interface StreamOptions {
  /** Resume after this event id (a `JobEvent.id`). */
  lastEventId?: number;
  /** Failures in a row after which the stream gives up with {@link APIConnectionError}; default 10. */
  maxReconnects?: number;
  /** Stops the stream (the iterator rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Whether an event ends its job's stream. */
export function isTerminal(event: JobEvent): boolean {
  return TERMINAL_STATUSES.some((status) => event.type === `job.${status}`);
}

/** Opens the stream from a cursor: the answer of `GET /jobs/{id}/events` with `Last-Event-ID`. */
export type OpenStream = (lastEventId: number | undefined, signal?: AbortSignal) => Promise<Response>;

/** The events of one job until its terminal one, reconnecting as the module's comment says. */
export async function* jobEvents(open: OpenStream, jobId: string, options: StreamOptions = {}): AsyncGenerator<JobEvent> {
  const maxReconnects = options.maxReconnects ?? 10;
  let cursor = options.lastEventId;
  let failures = 0;
  for (;;) {
    let response: Response;
    try {
      response = await open(cursor, options.signal);
    } catch (error) {
      if (!(error instanceof APIConnectionError) || ++failures > maxReconnects) throw error;
      await sleep(Math.min(5_000, 100 * 2 ** (failures - 1)), options.signal);
      continue;
    }
    if (response.status === 204) return;
    if (!response.ok || !response.body) {
      const body: unknown = await response.json().catch(() => null);
      throw new ImageStudioError(response.status, asProblem(response.status, body), response.headers);
    }
    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (message) => pending.push(message) });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
        for (const message of pending.splice(0)) {
          if (message.event === "stream.closed") continue; // reconnect from the cursor below
          // The job's recorded events carry an id; job.queue frames (and any a newer gateway adds) do not.
          if (!message.id || message.event === "job.queue") continue;
          const event = JSON.parse(message.data) as JobEvent;
          cursor = event.id;
          failures = 0;
          yield event;
          if (isTerminal(event)) return;
        }
      }
    } catch (error) {
      if (options.signal?.aborted || !(error instanceof TypeError)) throw error;
      if (++failures > maxReconnects) {
        throw new APIConnectionError(`the event stream of job ${jobId} kept dropping: ${error.message}`, { cause: error });
      }
      await sleep(Math.min(5_000, 100 * 2 ** (failures - 1)), options.signal);
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
}

// What the suites share: a live gateway (IMAGESTUDIO_URL), a tenant of their own, and a PNG made here.
//
// IMAGESTUDIO_CLI names the service's `imagestudio` command (the test harness,
// tests/clients/typescript/test_typescript_client.py, sets it and the environment it needs):
// each suite mints a key for a new tenant with it, so nothing it asserts depends on what another
// run did (a signing secret already shown, credits spent). Without it, IMAGESTUDIO_API_KEY is used.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";

import { ImageStudio, type ImageStudioOptions } from "../src/index.js";

export function required(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (tests/clients/typescript/test_typescript_client.py sets it)`);
  return value;
}

/** An API key for a new tenant of the `pro` tier (enough credits for a suite). */
export function newTenantKey(): string {
  const cli = process.env.IMAGESTUDIO_CLI;
  if (!cli) return required("IMAGESTUDIO_API_KEY");
  const out = execFileSync(cli, ["keys", "create", "--tenant", `ts-${randomUUID()}`, "--tier", "pro"], { encoding: "utf8" });
  const key = /isk_[A-Za-z0-9_-]+/.exec(out)?.[0];
  assert.ok(key, `no key in: ${out}`);
  return key;
}

/** A client of a new tenant; `options` may add a fetch or retry settings. */
export function newClient(options: Partial<ImageStudioOptions> = {}): ImageStudio {
  return new ImageStudio({ baseUrl: required("IMAGESTUDIO_URL"), apiKey: newTenantKey(), ...options });
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An RGB PNG with structure (a gradient and a red square), so crops and edges have something to find. */
export function makePng(width: number, height: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3); // filter byte 0, then RGB
    for (let x = 0; x < width; x++) {
      const inSquare = x >= width / 10 && x < width / 10 + width / 8 && y >= height / 3 && y < height / 3 + width / 8;
      row.set(inSquare ? [255, 40, 40] : [Math.floor((x * 255) / width), Math.floor((y * 255) / height), 128], 1 + x * 3);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The suites' photo: 640 x 480. */
export const WIDTH = 640;
export const HEIGHT = 480;
const png = makePng(WIDTH, HEIGHT);
export const photo = (): Blob => new Blob([new Uint8Array(png)], { type: "image/png" });
export const photoBytes = png;

/** Long enough for any job of the simulated providers on a loaded machine. */
export const WAIT = { timeoutMs: 180_000 };

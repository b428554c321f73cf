// An upload streams: a 200 MB file passes through a parley process (its own, so its memory is
// measured alone) and is stored whole, while the process's resident memory grows by less than
// twice the upload chunk (UPLOAD_CHUNK_BYTES) more than a plain Node.js server's does when it
// writes the same upload straight to a file. (Node.js itself receives a socket's bytes into
// fresh buffers the garbage collector reclaims in bulk: that server's resident memory grows by
// about 30 MiB whatever the size, and so does parley's; parley must add no buffering of its own.)
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { UPLOAD_CHUNK_BYTES } from "../../src/files/files.js";
import { freePort } from "../../src/redis/server.js";
import { pageToken, rawUpload, uploaded } from "../helpers/files.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, testRedisUrl, uniqueName } from "../helpers/parley.js";
import { killAll, runListening, track, useBuiltServer } from "../helpers/process.js";
import { call, connect } from "../helpers/socket.js";

const SIZE = Number(process.env.UPLOAD_TEST_MB ?? 200) * 1024 * 1024;

/** Resident memory of process `pid` now (bytes). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

/** The 200 MB body, 1 MiB at a time. */
function body(): Readable {
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= SIZE) {
        this.push(null);
        return;
      }
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** Runs `upload` while sampling process `pid`'s resident memory: how much it grew at most. */
async function growth(pid: number, upload: () => Promise<void>): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = rss(pid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 20);
  try {
    await upload();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, rss(pid)) - before;
}

/** The reference: a plain Node.js server that writes each request's body to a file. */
const PLAIN_SERVER = `
const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
let n = 0;
http.createServer((req, res) => {
  const to = path.join(process.argv[1], "plain-" + n++);
  req.pipe(fs.createWriteStream(to)).on("finish", () => res.end("stored"));
}).listen(0, "127.0.0.1", function () { process.stdout.write(String(this.address().port) + "\\n"); });
`;

describe("uploads stream", function () {
  useBuiltServer();
  this.timeout(90_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "parley-upload-"));
  afterEach(function () {
    killAll.call(this);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`takes a 200 MB upload whole, its resident memory growing less than 2 × ${UPLOAD_CHUNK_BYTES / 1024 / 1024} MiB more than a plain server's`, async () => {
    const port = await freePort();
    const r = await runListening({
      PORT: String(port),
      REDIS_URL: testRedisUrl(),
      SESSION_SECRET: "uploads-test-secret-0123456789abcdefgh",
      PARLEY_DATA_DIR: dir,
      FILE_MAX_BYTES: String(SIZE),
      FILE_QUOTA_BYTES: String(4 * SIZE),
    });
    const pid = r.child.pid as number;
    const url = `http://127.0.0.1:${port}`;
    const browser = new Browser(url);
    await browser.register(uniqueName("up"), PASSWORD);
    const socket = await connect(url, browser);
    const room = `big-${Date.now().toString(36)}`;
    try {
      await call(socket, "room:join", { room });
      // Warm: the upload path's code is loaded and has run once (an image, so sharp too).
      const sharp = (await import("sharp")).default;
      const png = await sharp({
        create: { width: 64, height: 64, channels: 3, background: "#abc" },
      })
        .png()
        .toBuffer();
      for (let i = 0; i < 3; i++) await uploaded(browser, room, "warm.png", png);
      const token = await pageToken(browser);
      let answer = { status: 0, text: "" };
      const grew = await growth(pid, async () => {
        answer = await rawUpload(browser, room, token, body(), {
          name: "big.bin",
          contentLength: SIZE,
        }).reply;
      });
      expect(answer.status, answer.text).to.equal(201);
      const file = (JSON.parse(answer.text) as { file: { id: string; size: number } }).file;
      expect(file.size).to.equal(SIZE);
      const stored = path.join(dir, "files", file.id.slice(0, 2), file.id.slice(2, 4), file.id);
      expect(statSync(stored).size).to.equal(SIZE);

      // The same body into the plain server, measured the same way.
      const plain = track(spawn(process.execPath, ["-e", PLAIN_SERVER, dir], { stdio: "pipe" }));
      const plainPort = await new Promise<number>((resolve) =>
        plain.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      const reference = await growth(plain.pid as number, async () => {
        await rawUpload(new Browser(`http://127.0.0.1:${plainPort}`), room, "", body(), {
          contentLength: SIZE,
        }).reply;
      });
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      process.stdout.write(
        `      (resident memory grew ${mib(grew)} in parley, ${mib(reference)} in the plain server)\n`,
      );
      expect(grew - reference).to.be.below(2 * UPLOAD_CHUNK_BYTES);
      // And nowhere near the file's size.
      expect(grew).to.be.below(SIZE / 4);
    } finally {
      socket.close();
    }
  });
});

// Files: 20 clients upload and then download 1 MB files at once, through parley (session,
// CSRF, the right to write, budget and quota before a byte is stored; one batched Redis read
// per download) and through a plain static-file server on the same machine (Node.js writing a
// request's body to a file, and serving a file with no check at all). Reported: MB/s and p99
// for both, and the CPU each download costs each server: parley's extra is its per-request
// check (the batched Redis read and the PostgreSQL record) and its headers.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Bench, log, type Row } from "../harness.js";
import { cpuSeconds, percentile } from "../lib.js";

const CLIENTS = 20;
const SIZE = 1024 * 1024;

const PLAIN_FILES = `
const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
const dir = process.argv[1];
let n = 0;
http.createServer((req, res) => {
  if (req.method === "POST") {
    const to = path.join(dir, "up-" + n++);
    req.pipe(fs.createWriteStream(to)).on("finish", () => res.end("{}"));
    return;
  }
  const file = path.join(dir, path.basename(req.url));
  fs.stat(file, (err, s) => {
    if (err) { res.statusCode = 404; res.end(); return; }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": s.size });
    fs.createReadStream(file).pipe(res);
  });
}).listen(0, "127.0.0.1", function () { process.stdout.write(String(this.address().port) + "\\n"); });
`;

/** Runs `jobs` by `CLIENTS` workers; each job's time (ms). */
async function timed(jobs: (() => Promise<void>)[]): Promise<{ times: number[]; seconds: number }> {
  const times: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let j = next++; j < jobs.length; j = next++) {
        const t = performance.now();
        await (jobs[j] as () => Promise<void>)();
        times.push(performance.now() - t);
      }
    }),
  );
  times.sort((a, b) => a - b);
  return { times, seconds: (performance.now() - started) / 1000 };
}

function body(): Blob {
  const bytes = new Uint8Array(SIZE);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
  return new Blob([bytes], { type: "application/octet-stream" });
}

export async function files(b: Bench, row: Row): Promise<void> {
  const perClient = b.sizes.quick ? 2 : 5;
  const reads = b.sizes.quick ? 5 : 25;
  const parley = b.servers.parley;
  const users = b.users.slice(0, CLIENTS);
  const room = `bench-files-${Date.now().toString(36)}`;
  const blob = body();
  // Each client: its login's CSRF token (the chat page's), and a place in the room.
  const clients = await Promise.all(
    users.map(async (u) => {
      const page = await fetch(`${parley.url}/chat`, { headers: { cookie: u.cookie } });
      const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
      return { cookie: u.cookie, token };
    }),
  );
  const { io } = await import("socket.io-client");
  await Promise.all(
    users.map(async (u) => {
      const s = io(parley.url, {
        transports: ["websocket"],
        extraHeaders: { cookie: u.cookie },
        forceNew: true,
        reconnection: false,
      });
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
      });
      await s.emitWithAck("room:join", { room });
      s.close();
    }),
  );

  const uploaded: { cookie: string; id: string }[] = [];
  const up = await timed(
    clients.flatMap((c) =>
      Array.from({ length: perClient }, () => async () => {
        const form = new FormData();
        form.append("file", blob, "bench.bin");
        const r = await fetch(`${parley.url}/rooms/${room}/files`, {
          method: "POST",
          headers: {
            cookie: c.cookie,
            "x-csrf-token": c.token,
            origin: parley.url,
            accept: "application/json",
          },
          body: form,
        });
        const j = (await r.json()) as { file?: { id: string } };
        if (r.status !== 201 || !j.file) throw new Error(`upload answered ${r.status}`);
        uploaded.push({ cookie: c.cookie, id: j.file.id });
      }),
    ),
  );
  row["parley.upload_mb_per_s"] = uploaded.length / up.seconds;
  row["parley.upload_p99_ms"] = percentile(up.times, 0.99);
  const cpuBefore = cpuSeconds(parley.pid);
  const down = await timed(
    Array.from({ length: reads * CLIENTS }, (_, i) => async () => {
      const f = uploaded[i % uploaded.length] as { cookie: string; id: string };
      const r = await fetch(`${parley.url}/rooms/${room}/files/${f.id}`, {
        headers: { cookie: f.cookie },
      });
      const got = (await r.arrayBuffer()).byteLength;
      if (r.status !== 200 || got !== SIZE) throw new Error(`download answered ${r.status}`);
    }),
  );
  const downloads = reads * CLIENTS;
  row["parley.download_mb_per_s"] = downloads / down.seconds;
  row["parley.download_p99_ms"] = percentile(down.times, 0.99);
  row["parley.cpu_us_per_download"] = ((cpuSeconds(parley.pid) - cpuBefore) / downloads) * 1e6;
  // The check alone: HEAD requests go through all of it (the batched Redis read, the record in
  // PostgreSQL, the headers) and send no bytes.
  const heads = reads * CLIENTS;
  const headBefore = cpuSeconds(parley.pid);
  const head = await timed(
    Array.from({ length: heads }, (_, i) => async () => {
      const f = uploaded[i % uploaded.length] as { cookie: string; id: string };
      const r = await fetch(`${parley.url}/rooms/${room}/files/${f.id}`, {
        method: "HEAD",
        headers: { cookie: f.cookie },
      });
      if (r.status !== 200) throw new Error(`HEAD answered ${r.status}`);
    }),
  );
  row["parley.cpu_us_per_check"] = ((cpuSeconds(parley.pid) - headBefore) / heads) * 1e6;
  row["parley.check_p99_ms"] = percentile(head.times, 0.99);
  // The same stack answering /healthz (no check at all): the difference is the check's cost.
  const healthBefore = cpuSeconds(parley.pid);
  await timed(
    Array.from({ length: heads }, () => async () => {
      const r = await fetch(`${parley.url}/healthz`, { method: "HEAD" });
      await r.arrayBuffer();
    }),
  );
  row["parley.cpu_us_per_healthz"] = ((cpuSeconds(parley.pid) - healthBefore) / heads) * 1e6;

  // The reference: the same traffic through a plain static-file server.
  const dir = mkdtempSync(path.join(os.tmpdir(), "parley-bench-files-"));
  const plain = spawn(process.execPath, ["-e", PLAIN_FILES, dir], { stdio: "pipe" });
  try {
    const port = await new Promise<number>((resolve) =>
      plain.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    const base = `http://127.0.0.1:${port}`;
    const pup = await timed(
      Array.from({ length: perClient * CLIENTS }, () => async () => {
        const form = new FormData();
        form.append("file", blob, "bench.bin");
        const r = await fetch(`${base}/up`, { method: "POST", body: form });
        await r.arrayBuffer();
      }),
    );
    row["static.upload_mb_per_s"] = (perClient * CLIENTS) / pup.seconds;
    row["static.upload_p99_ms"] = percentile(pup.times, 0.99);
    for (let i = 0; i < uploaded.length; i++) {
      writeFileSync(path.join(dir, `f${i}`), new Uint8Array(await blob.arrayBuffer()));
    }
    const before = cpuSeconds(plain.pid as number);
    const pdown = await timed(
      Array.from({ length: downloads }, (_, i) => async () => {
        const r = await fetch(`${base}/f${i % uploaded.length}`);
        const got = (await r.arrayBuffer()).byteLength;
        if (got !== SIZE) throw new Error("plain download short");
      }),
    );
    row["static.download_mb_per_s"] = downloads / pdown.seconds;
    row["static.download_p99_ms"] = percentile(pdown.times, 0.99);
    row["static.cpu_us_per_download"] =
      ((cpuSeconds(plain.pid as number) - before) / downloads) * 1e6;
    log(
      `    files: upload ${row["parley.upload_mb_per_s"]?.toFixed(0)} vs ${row["static.upload_mb_per_s"]?.toFixed(0)} MB/s, download ${row["parley.download_mb_per_s"]?.toFixed(0)} vs ${row["static.download_mb_per_s"]?.toFixed(0)} MB/s`,
    );
  } finally {
    plain.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

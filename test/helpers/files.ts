// Uploading and downloading files as a browser does: the session cookie, and for uploads the
// CSRF token of the chat page in X-CSRF-Token, a multipart body with one field `file`.
import http from "node:http";
import type { Readable } from "node:stream";
import sharp from "sharp";
import type { FileRef } from "../../src/domain/types.js";
import type { Browser } from "./http.js";

export interface UploadReply {
  status: number;
  body: { ok?: boolean; file?: FileRef; error?: { code: string; message: string } };
  headers: Headers;
}

/** The CSRF token a logged-in page carries (the logout form's). */
export async function pageToken(browser: Browser): Promise<string> {
  return browser.csrf("/chat");
}

export async function upload(
  browser: Browser,
  room: string,
  name: string,
  bytes: Uint8Array | string,
  opts: { token?: string | null; type?: string; field?: string } = {},
): Promise<UploadReply> {
  const token = opts.token === undefined ? await pageToken(browser) : opts.token;
  const form = new FormData();
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  form.append(
    opts.field ?? "file",
    new Blob([new Uint8Array(data)], { type: opts.type ?? "application/octet-stream" }),
    name,
  );
  const headers: Record<string, string> = {
    cookie: browser.cookieHeader(),
    accept: "application/json",
    origin: browser.baseUrl,
  };
  if (token) headers["x-csrf-token"] = token;
  const res = await fetch(new URL(`/rooms/${encodeURIComponent(room)}/files`, browser.baseUrl), {
    method: "POST",
    headers,
    body: form,
  });
  const text = await res.text();
  let body: UploadReply["body"] = {};
  try {
    body = JSON.parse(text) as UploadReply["body"];
  } catch {
    body = { error: { code: "not_json", message: text.slice(0, 200) } };
  }
  return { status: res.status, body, headers: res.headers };
}

/** Uploads and returns the file, failing the test with the answer when refused. */
export async function uploaded(
  browser: Browser,
  room: string,
  name: string,
  bytes: Uint8Array | string,
): Promise<FileRef> {
  const r = await upload(browser, room, name, bytes);
  if (r.status !== 201 || !r.body.file) throw new Error(`upload refused: ${JSON.stringify(r)}`);
  return r.body.file;
}

export interface Download {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

export function fileUrl(room: string, id: string, variant?: "thumb" | "image"): string {
  return `/rooms/${encodeURIComponent(room)}/files/${id}${variant ? `/${variant}` : ""}`;
}

export async function download(
  browser: Browser,
  room: string,
  id: string,
  variant?: "thumb" | "image",
): Promise<Download> {
  const res = await fetch(new URL(fileUrl(room, id, variant), browser.baseUrl), {
    headers: { cookie: browser.cookieHeader() },
    redirect: "manual",
  });
  return {
    status: res.status,
    headers: res.headers,
    bytes: Buffer.from(await res.arrayBuffer()),
  };
}

/** A PNG of `w`×`h` pixels (a gradient, so it does not compress to nothing). */
export async function png(w = 64, h = 48): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 251;
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

/** A JPEG carrying EXIF with a GPS position and a camera name. */
export async function jpegWithLocation(): Promise<Buffer> {
  return sharp(await png(80, 60))
    .jpeg()
    .withExif({
      IFD0: { Make: "LeakyCam", Model: "Where-I-Live 3000" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 2400/100" },
    })
    .toBuffer();
}

/**
 * A raw multipart upload over one HTTP request whose body comes from `body`: for uploads
 * larger than a test wants in memory, and for clients that go away in the middle.
 */
export function rawUpload(
  browser: Browser,
  room: string,
  token: string,
  body: Readable,
  opts: { name?: string; contentLength?: number } = {},
): { request: http.ClientRequest; reply: Promise<{ status: number; text: string }> } {
  const boundary = "----parleytest7MA4YWxkTrZu0gW";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.name ?? "big.bin"}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(`/rooms/${encodeURIComponent(room)}/files`, browser.baseUrl);
  const headers: Record<string, string | number> = {
    cookie: browser.cookieHeader(),
    "x-csrf-token": token,
    accept: "application/json",
    origin: browser.baseUrl,
    "content-type": `multipart/form-data; boundary=${boundary}`,
  };
  if (opts.contentLength !== undefined) {
    headers["content-length"] = head.length + opts.contentLength + tail.length;
  }
  const request = http.request(url, { method: "POST", headers });
  const reply = new Promise<{ status: number; text: string }>((resolve, reject) => {
    request.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    request.on("error", reject);
  });
  request.write(head);
  body.on("data", (chunk: Buffer) => {
    if (!request.write(chunk)) {
      body.pause();
      request.once("drain", () => body.resume());
    }
  });
  body.on("end", () => {
    request.end(tail);
  });
  return { request, reply };
}

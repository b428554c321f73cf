// Raw engine.io requests, below socket.io-client: for testing what an attacker could send.
import http from "node:http";
import net from "node:net";
import WebSocket from "ws";

/** GET/POST on the polling transport; returns status and body. */
export async function poll(
  base: string,
  query: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling${query}`, {
    method: opts.method ?? "GET",
    headers: {
      ...(opts.body !== undefined ? { "content-type": "text/plain;charset=UTF-8" } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  return { status: res.status, body: await res.text() };
}

/** Opens an engine.io session over polling with these headers; returns its sid. */
export async function pollingHandshake(
  base: string,
  headers: Record<string, string>,
): Promise<string> {
  const res = await poll(base, "", { headers });
  if (res.status !== 200) throw new Error(`handshake answered ${res.status}`);
  const open = JSON.parse(res.body.slice(1)) as { sid: string };
  return open.sid;
}

/**
 * Sends one HTTP request with the request target exactly as given (fragments, repeated or
 * odd parameters are not normalised, as fetch would). Resolves with status and body, or
 * rejects when no answer comes within `ms` (a request held open).
 */
export function rawHttp(
  base: string,
  target: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; ms?: number } = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: Number(url.port),
      method: opts.method ?? "GET",
      path: target,
      agent: false,
      headers: {
        ...(opts.body !== undefined ? { "content-type": "text/plain;charset=UTF-8" } : {}),
        ...opts.headers,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${target} within ${opts.ms ?? 3000} ms`));
    }, opts.ms ?? 3000);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

/**
 * Sends a WebSocket upgrade over a plain TCP socket and returns the status line the server
 * answers with ("" when the connection was dropped without one).
 */
export function upgradeStatusLine(
  base: string,
  query: string,
  headers: Record<string, string>,
): Promise<string> {
  return upgradeStatus(base, `/socket.io/?EIO=4&transport=websocket${query}`, headers);
}

/** The same with the whole request target given, byte for byte. */
export function upgradeStatus(
  base: string,
  target: string,
  headers: Record<string, string>,
): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname);
    let data = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("no answer to the upgrade within 3 s"));
    }, 3000);
    sock.on("connect", () => {
      const lines = [
        `GET ${target} HTTP/1.1`,
        `Host: ${url.host}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        "",
        "",
      ];
      sock.write(lines.join("\r\n"));
    });
    sock.on("data", (d) => {
      data += d.toString("latin1");
      if (data.includes("\r\n")) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data.slice(0, data.indexOf("\r\n")));
      }
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(data.slice(0, Math.max(0, data.indexOf("\r\n"))));
    });
    sock.on("error", () => undefined);
  });
}

/** A raw engine.io WebSocket with these headers, opened. */
export function rawWebSocket(base: string, headers: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`, {
    headers,
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

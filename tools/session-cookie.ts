// express-session's signed cookie value, made and read outside parley (the benchmark and the
// tests mint logins directly in Redis): `s:<id>.<HMAC-SHA256 of the id, base64 without
// padding>`, URI-encoded, as express-session (cookie-signature) writes it.
import { createHmac, timingSafeEqual } from "node:crypto";

const mac = (id: string, secret: string) =>
  createHmac("sha256", secret).update(id).digest("base64").replace(/=+$/, "");

/** express-session's signed cookie value for session `id` (`s:<id>.<hmac>`, URI-encoded). */
export function signSid(id: string, secret: string): string {
  return encodeURIComponent(`s:${id}.${mac(id, secret)}`);
}

/** The session id of a signed cookie value, or undefined when it is not signed by `secret`. */
export function unsignSid(value: string, secret: string): string | undefined {
  let v: string;
  try {
    v = decodeURIComponent(value);
  } catch {
    return undefined;
  }
  const dot = v.lastIndexOf(".");
  if (!v.startsWith("s:") || dot < 0) return undefined;
  const id = v.slice(2, dot);
  const given = Buffer.from(v.slice(dot + 1));
  const want = Buffer.from(mac(id, secret));
  return given.length === want.length && timingSafeEqual(given, want) ? id : undefined;
}

// HTTP helpers for tests: the form client (tools/form-client.ts) and cookie parsing.
export { Browser, type Reply } from "../../tools/form-client.js";

/** The session id inside a signed `parley.sid` cookie value (s:<id>.<sig>, URL-encoded). */
export function sidFromCookie(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^s:([^.]+)\./.exec(decodeURIComponent(value));
  return m?.[1];
}

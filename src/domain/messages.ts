// What messages are, as values: a message's id (a Redis stream id, "<ms>-<n>") and the
// client id a sender gives it. Pure (the page bundles it).

/** A message's client id (`message:send` `clientId`): 8–64 letters, digits, `-` or `_`. */
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

export const STREAM_ID_RE = /^\d{1,16}-\d{1,16}$/;

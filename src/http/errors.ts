// HTTP errors are values: a status and a stable code. Handlers throw them; one error handler
// renders the page (or JSON for clients that ask for it).
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const httpErrors = {
  notFound: () => new HttpError(404, "not_found", "There is nothing at this address."),
  forbiddenOrigin: () =>
    new HttpError(403, "forbidden_origin", "This request came from a site that is not allowed."),
  csrf: () =>
    new HttpError(
      403,
      "csrf",
      "The form expired or did not come from parley. Go back, reload the page and try again.",
    ),
  unavailable: () =>
    new HttpError(503, "unavailable", "parley is temporarily unavailable. Try again in a moment."),
  badRequest: (message: string) => new HttpError(400, "bad_request", message),
  tooMany: () =>
    new HttpError(429, "rate_limited", "Too many requests from your address. Wait a moment."),
} as const;

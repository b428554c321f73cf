// Rendering helpers: every page gets the logged-in user and, where it has forms, a CSRF token.
import type { Request, Response } from "express";

export type TokenGenerator = (req: Request) => string;

export function render(
  res: Response,
  view: string,
  status: number,
  locals: Record<string, unknown> & { title: string },
): void {
  res.status(status).render(view, { user: res.req.user, errors: {}, values: {}, ...locals });
}

/** "/chat" -> "/login?next=/chat": keeps slashes readable, encodes everything else. */
export function loginRedirect(originalUrl: string): string {
  return `/login?next=${encodeURIComponent(originalUrl).replace(/%2F/gi, "/")}`;
}

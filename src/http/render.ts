// Rendering helpers: every page gets the logged-in user and, where it has forms, a CSRF token.
import type { NextFunction, Request, Response } from "express";

export type TokenGenerator = (req: Request) => string;

declare module "express-serve-static-core" {
  interface Locals {
    /** A CSRF token was just stored in the session: it must be saved before the page is sent. */
    sessionChanged?: boolean;
  }
}

/**
 * Renders a page. A page whose form token was just created saves its session first, so a
 * form is never shown whose token Redis did not store: if Redis cannot take it, the request
 * fails (503) instead of sending a page that can only fail later.
 */
export function render(
  res: Response,
  view: string,
  status: number,
  locals: Record<string, unknown> & { title: string },
): void {
  const send = () => {
    res.status(status).render(view, { user: res.req.user, errors: {}, values: {}, ...locals });
  };
  const session = res.req.session;
  if (!res.locals.sessionChanged || !session) {
    send();
    return;
  }
  session.save((err: unknown) => {
    if (err) (res.req as Request & { next: NextFunction }).next(err);
    else send();
  });
}

/** "/chat" -> "/login?next=/chat": keeps slashes readable, encodes everything else. */
export function loginRedirect(originalUrl: string): string {
  return `/login?next=${encodeURIComponent(originalUrl).replace(/%2F/gi, "/")}`;
}

// Refuses state-changing requests whose Origin header is present and not allowed. Browsers
// send Origin on every cross-site POST, so this stops cross-site form posts before CSRF even
// has to; a missing Origin (old clients, same-origin navigation in some browsers) falls
// through to the CSRF token check.
import type { NextFunction, Request, Response } from "express";
import { httpErrors } from "./errors.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export function originCheck(allowed: () => ReadonlySet<string>) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const origin = req.get("origin");
    if (SAFE.has(req.method) || origin === undefined || allowed().has(origin)) return next();
    next(httpErrors.forbiddenOrigin());
  };
}

// The pino logger parley passes around. Redaction is a second line of defence: no code path
// should log a cookie, password, session id or CSRF token in the first place.
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { app: "parley" },
    redact: {
      paths: [
        "password",
        "current",
        "cookie",
        "sid",
        "sessionId",
        "_csrf",
        "csrfToken",
        "*.password",
        "*.cookie",
        "*.headers.cookie",
        "*.headers.authorization",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

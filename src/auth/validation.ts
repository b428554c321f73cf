// Form schemas shared by registration, login and the password change (field names and rules
// as the README documents them).
import { z } from "zod";

export const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;

/** Length in characters (code points), not UTF-16 units. */
const chars = (s: string) => [...s].length;

export const usernameSchema = z
  .string("Choose a username.")
  .regex(USERNAME_RE, "Use 3–32 letters, digits, dots, dashes or underscores.");

export const passwordSchema = z
  .string("Choose a password.")
  .refine((p) => chars(p) >= 8, "Use at least 8 characters.")
  .refine((p) => chars(p) <= 256, "Use at most 256 characters.");

export const registerForm = z.object({ username: usernameSchema, password: passwordSchema });

export const loginForm = z.object({
  username: z.string().max(256).default(""),
  password: z.string().max(1024).default(""),
  next: z.string().max(2048).optional(),
});

export const passwordChangeForm = z.object({
  current: z.string().max(1024).default(""),
  password: passwordSchema,
});

export const accountDeleteForm = z.object({
  current: z.string().max(1024).default(""),
});

/** First message per field, for showing errors next to their inputs. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? "form");
    out[field] ??= issue.message;
  }
  return out;
}

/**
 * `next` is honoured only when it is a local path: one "/" followed by neither "/" nor "\",
 * checked on the raw value and again after decoding.
 */
export function safeNext(next: string | undefined): string | undefined {
  if (!next) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  const isLocal = (s: string) => /^\/(?![/\\])/.test(s) && !/[\u0000-\u001f\\]/.test(s);
  if (!isLocal(next)) return undefined;
  let decoded = next;
  for (let i = 0; i < 3; i++) {
    try {
      const d = decodeURIComponent(decoded);
      if (d === decoded) break;
      decoded = d;
    } catch {
      return undefined;
    }
    if (!isLocal(decoded)) return undefined;
  }
  return next;
}

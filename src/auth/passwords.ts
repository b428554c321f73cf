// argon2id hashing with at least OWASP's minimum parameters (Password Storage Cheat Sheet:
// m=19 MiB, t=2, p=1). The dummy hash lets an unknown username cost the same as a wrong
// password, so timing does not reveal which usernames exist.
import { randomBytes } from "node:crypto";
import argon2 from "argon2";

export const ARGON2_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456, // KiB = 19 MiB
  timeCost: 2,
  parallelism: 1,
} as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** A hash of a random password, made once per process, verified when the user is unknown. */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(32).toString("base64url"));
  return dummy;
}

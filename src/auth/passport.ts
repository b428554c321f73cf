// A private Passport instance (never the global one) with the local strategy. The session
// holds only the user id; each request loads the user, so a deleted user is logged out.
import { Passport } from "passport";
import { Strategy as LocalStrategy } from "passport-local";
import type { AccountStore, UserCredentials } from "../stores/accounts.js";
import { dummyHash, verifyPassword } from "./passwords.js";
import { USERNAME_RE } from "./validation.js";

declare global {
  namespace Express {
    interface User {
      id: string;
      username: string;
    }
  }
}

/** Checks a username and password; an unknown user costs one argon2 verify like a known one. */
export async function checkCredentials(
  users: AccountStore,
  username: string,
  password: string,
): Promise<UserCredentials | undefined> {
  const user = USERNAME_RE.test(username) ? await users.byUsername(username) : undefined;
  const ok = await verifyPassword(user?.hash ?? (await dummyHash()), password);
  return ok && user ? user : undefined;
}

/** A user's id and name, as a login carries them. */
export type UserLookup = (id: string) => Promise<Express.User | undefined>;

/**
 * id -> { id, username }, cached per process (bounded). Usernames never change, so loading
 * the user of a request or handshake costs no Redis trip once the user was seen. The cache
 * never decides whether a login is valid: the session is always read from Redis, and its
 * credentials generation is checked on every page and event (ending an account moves the
 * generation on, so its logins are refused whatever this cache holds).
 */
export function createUserLookup(users: AccountStore): UserLookup {
  const known = new Map<string, Express.User>();
  return async (id) => {
    const cached = known.get(id);
    if (cached) return cached;
    const user = await users.byId(id);
    if (!user) return undefined;
    const u = { id: user.id, username: user.username };
    if (known.size >= 50_000) known.delete(known.keys().next().value as string);
    known.set(id, u);
    return u;
  };
}

export function createPassport(
  users: AccountStore,
  lookup: UserLookup = createUserLookup(users),
): InstanceType<typeof Passport> {
  const passport = new Passport();
  passport.use(
    new LocalStrategy({ session: true }, (username, password, done) => {
      checkCredentials(users, username, password).then(
        (user) => done(null, user ? { id: user.id, username: user.username } : false),
        (err: unknown) => done(err),
      );
    }),
  );
  passport.serializeUser((user, done) => done(null, user.id));
  passport.deserializeUser((id: string, done) => {
    lookup(id).then(
      (user) => done(null, user ?? false),
      (err: unknown) => done(err),
    );
  });
  return passport;
}

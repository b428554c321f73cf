// Users in Redis: a hash per user and a lower-cased name -> id key whose SET NX makes two
// concurrent registrations of one name impossible to both succeed.
import { randomUUID } from "node:crypto";
import type { Redis } from "../redis.js";
import { keys } from "./keys.js";

export interface User {
  readonly id: string;
  readonly username: string;
  readonly hash: string;
  readonly createdAt: number;
}

export class UsernameTakenError extends Error {
  constructor() {
    super("username taken");
    this.name = "UsernameTakenError";
  }
}

export class UserStore {
  constructor(private readonly redis: Redis) {}

  async create(username: string, hash: string, now: number): Promise<User> {
    const id = randomUUID();
    const claimed = await this.redis.set(keys.username(username), id, { condition: "NX" });
    if (claimed !== "OK") throw new UsernameTakenError();
    const user: User = { id, username, hash, createdAt: now };
    await this.redis.hSet(keys.user(id), {
      id,
      username,
      hash,
      createdAt: String(now),
    });
    return user;
  }

  async byId(id: string): Promise<User | undefined> {
    const h = await this.redis.hGetAll(keys.user(id));
    if (!h.id || !h.username || !h.hash) return undefined;
    return { id: h.id, username: h.username, hash: h.hash, createdAt: Number(h.createdAt) };
  }

  async byUsername(username: string): Promise<User | undefined> {
    const id = await this.redis.get(keys.username(username));
    return id ? this.byId(id) : undefined;
  }

  async setHash(id: string, hash: string): Promise<void> {
    await this.redis.hSet(keys.user(id), "hash", hash);
  }
}

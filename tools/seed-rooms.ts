// Rooms full of large messages, written straight into Redis as parley writes them (its keys,
// its "<ms>-<n>" ids and counters): the data of the unread-count attack, at its scale, for
// the cost tests and the abuse benchmark (sending 30,000 messages of 8 KB would take hours).
import { keys } from "../src/stores/keys.js";

// KEYS: stream, counts, kind, the user's access, members. ARGV: user id, messages, bytes per
// message, time part of the ids, author id. A public room the user is a member of, holding
// `messages` messages of `bytes` each from the author.
const SEED_ROOM = `
local text = string.rep('x', tonumber(ARGV[3]))
for i = 1, tonumber(ARGV[2]) do
  redis.call('XADD', KEYS[1], ARGV[4] .. '-' .. i, 'u', ARGV[5], 'n', 'someone', 't', text, 'ts', ARGV[4])
end
redis.call('HSET', KEYS[2], 'n', ARGV[2], 'ms', ARGV[4])
redis.call('SET', KEYS[3], 'public')
redis.call('SET', KEYS[4], 'member')
redis.call('HSET', KEYS[5], ARGV[1], 'member')
return 1
`;

/** What seeding needs of a Redis client (node-redis's eval). */
interface Evaluator {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Makes `room` a public room `userId` is a member of, holding `messages` messages of `bytes`
 * each by `authorId`, their ids' time part `base` (ms).
 */
export async function seedRoom(
  redis: Evaluator,
  room: string,
  o: { userId: string; messages: number; bytes: number; base: number; authorId: string },
): Promise<void> {
  await redis.eval(SEED_ROOM, {
    keys: [
      keys.roomMessages(room),
      keys.roomCounts(room),
      keys.roomKind(room),
      keys.roomAccess(room, o.userId),
      keys.roomMembers(room),
    ],
    arguments: [o.userId, String(o.messages), String(o.bytes), String(o.base), o.authorId],
  });
}

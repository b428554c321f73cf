// Per-event policy, as one table: for every client event, the budget it counts against and,
// for events on a room's content, the standing it requires there. dispatch.ts reads the row
// of each event once; nothing in the pipeline tests an event's name.
//
// - budget: a class of budgets.ts's LOCAL_BUDGETS (counted in this process, no I/O), or
//   "redis" (message:send: counted in Redis across every socket and process of the user, so
//   the event waits for that count before its handler runs).
// - room: "member" or "reader" (room-policy.ts's admit decides from the standing read in the
//   event's own session batch); absent for events that need no standing, or that check it in
//   their own Redis script.
import type { BudgetClass } from "./budgets.js";
import type { ClientEventName } from "./events.js";
import type { RoomRule } from "./room-policy.js";

export interface EventPolicy {
  readonly budget: BudgetClass | "redis";
  readonly room?: RoomRule;
}

export const EVENT_POLICY: Readonly<Record<ClientEventName, EventPolicy>> = {
  "room:join": { budget: "membership" },
  "room:leave": { budget: "membership" },
  "room:create": { budget: "membership" },
  "room:list": { budget: "rooms" },
  "room:directory": { budget: "rooms" },
  "room:members": { budget: "rooms", room: "reader" },
  "room:topic": { budget: "moderation" },
  "room:invite": { budget: "moderation" },
  "room:remove": { budget: "moderation" },
  "room:ban": { budget: "moderation" },
  "room:unban": { budget: "moderation" },
  "room:role": { budget: "moderation" },
  "room:read": { budget: "read", room: "member" },
  "message:send": { budget: "redis", room: "member" },
  "message:edit": { budget: "revise", room: "member" },
  "message:delete": { budget: "revise", room: "member" },
  "message:history": { budget: "history", room: "reader" },
  typing: { budget: "typing", room: "member" },
  "dm:open": { budget: "dm" },
  activity: { budget: "activity" },
  ping: { budget: "ping" },
};

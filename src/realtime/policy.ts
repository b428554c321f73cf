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
// - activity: the event is something the user did, so it counts towards the idle timeout
//   (domain/login.ts). Every event is, except `room:read`: the page reports read positions by
//   itself as messages arrive, and an unattended tab in a busy room must still idle out.

import type { ClientEventName } from "../contract/events.js";
import type { BudgetClass } from "./budgets.js";
import type { RoomRule } from "./room-policy.js";

export interface EventPolicy {
  readonly budget: BudgetClass | "redis";
  readonly room?: RoomRule;
  readonly activity: boolean;
}

export const EVENT_POLICY: Readonly<Record<ClientEventName, EventPolicy>> = {
  "room:join": { budget: "membership", activity: true },
  "room:leave": { budget: "membership", activity: true },
  "room:create": { budget: "membership", activity: true },
  "room:list": { budget: "rooms", activity: true },
  "room:directory": { budget: "rooms", activity: true },
  "room:members": { budget: "rooms", room: "reader", activity: true },
  "room:topic": { budget: "moderation", activity: true },
  "room:invite": { budget: "moderation", activity: true },
  "room:remove": { budget: "moderation", activity: true },
  "room:ban": { budget: "moderation", activity: true },
  "room:unban": { budget: "moderation", activity: true },
  "room:role": { budget: "moderation", activity: true },
  "room:read": { budget: "read", room: "member", activity: false },
  "message:send": { budget: "redis", room: "member", activity: true },
  "message:edit": { budget: "revise", room: "member", activity: true },
  "message:delete": { budget: "revise", room: "member", activity: true },
  "message:history": { budget: "history", room: "reader", activity: true },
  "message:around": { budget: "history", room: "reader", activity: true },
  // Its rooms are read by the handler (every room the user may read, or the one named).
  "message:search": { budget: "search", activity: true },
  typing: { budget: "typing", room: "member", activity: true },
  "dm:open": { budget: "dm", activity: true },
  activity: { budget: "activity", activity: true },
  ping: { budget: "ping", activity: true },
};

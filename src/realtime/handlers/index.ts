// The chat event handlers, by family (rooms, moderation, messages). Each gets a payload
// already parsed by its schema and the socket of an already-checked session, whose standing
// in the event's room, if the event has a rule in room-policy.ts, was checked too. Events
// that change standing are checked by their own Redis script (RoomStore), which reads the
// actor's standing as it runs. `Handlers` maps every client event to its handler: an event
// of the contract that no family answers is a compile error here.
import type { HandlerDeps, Handlers } from "./common.js";
import { messageHandlers } from "./messages.js";
import { moderationHandlers } from "./moderation.js";
import { roomHandlers } from "./rooms.js";

export {
  EventError,
  type HandlerDeps,
  type Handlers,
  HISTORY_ON_JOIN,
  leaveEverywhere,
} from "./common.js";

export function createHandlers(d: HandlerDeps): Handlers {
  return {
    ...roomHandlers(d),
    ...moderationHandlers(d),
    ...messageHandlers(d),
    // Activity is the session check itself (it refreshes the idle timeout); nothing else.
    activity: () => ({ ok: true }),
    ping: () => ({ ok: true, ts: d.now() }),
  };
}

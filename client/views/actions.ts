// What the views may ask of the page: its elements, its state, and the actions a click in a
// list or on a message starts. The page (app.ts) implements it; the views depend on this
// interface only, never on app.ts, so drawing and acting stay apart (and import no circle).
import type { Message } from "../../src/domain/types.js";
import type { Ui } from "../dom.js";
import type { ChatState, RoomState } from "../state.js";

export interface ViewActions {
  readonly ui: Ui;
  readonly state: ChatState;
  /** Shows a room (already in the list). */
  select(name: string): void;
  /** Joins a room or takes up an invitation, and shows it when `focus`. */
  join(name: string, opts: { focus: boolean }): Promise<boolean>;
  /** Opens (or starts) the direct conversation with a user. */
  openDm(username: string): Promise<void>;
  /** Sends a message that is waiting in the outbox again, or drops it. */
  retrySend(clientId: string): void;
  discardSend(clientId: string): void;
  /** Turns one's own message into an edit box; deletes a message (after asking). */
  startEdit(m: Message, r: RoomState): void;
  deleteMessage(m: Message, r: RoomState): void;
  /** The edit box of a message being edited. */
  editBox(m: Message, r: RoomState): HTMLTextAreaElement;
  /** Copies a link to a message (its permalink). */
  copyLink(m: Message): void;
}

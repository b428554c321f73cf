// One handler per server event: each changes the state and redraws what it touched.
import type { ServerToClientEvents } from "../src/contract/events.js";
import { type App, REASONS } from "./app.js";
import { showError } from "./dom.js";
import { formatMessage, plainText } from "./format.js";

const TYPING_SHOW_MS = 3000;

type Handlers = { [E in keyof ServerToClientEvents]: ServerToClientEvents[E] };

export function serverEvents(app: App, notify: (title: string, body: string) => void): Handlers {
  const { state, ui } = app;
  const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

  return {
    // The server keeps the user's rooms: on every connect it joins the socket to them and
    // sends the list, so every device shows the same rooms. The page then loads the one in view.
    rooms: ({ rooms: list }) => {
      const imported = state.applyRoomList(list);
      // A link to a message the page was opened with is shown instead of the last room.
      const link = app.permalink;
      app.permalink = undefined;
      for (const r of imported) void app.join(r.name, { focus: false, quiet: true });
      if (list.length === 0 && imported.length === 0) {
        void app.join("lobby", { focus: !link, quiet: true });
      }
      app.renderRoomLists();
      if (link) void app.openPermalink(link.room, link.id);
      else {
        const shown = state.current ?? [...state.rooms.values()].find((r) => r.joined)?.name;
        if (shown) app.select(shown);
      }
      void app.flushOutbox();
    },

    message: (m) => {
      let r = state.rooms.get(m.room);
      if (!r) {
        if (!m.room.startsWith("dm:")) return;
        // Someone opened a direct message with us: show it and join the room.
        r = state.room(m.room, m.user.username, "dm");
        void app.join(m.room, { focus: false, quiet: true, label: m.user.username, kind: "dm" });
      }
      const t = typingTimers.get(`${m.room}|${m.user.id}`);
      if (t) clearTimeout(t);
      app.arrived(r, m);
      if (r.kind === "dm" && m.user.id !== state.me.id) {
        notify(`${m.user.username} (direct message)`, plainText(formatMessage(m.text)));
      }
    },

    "message:updated": (m) => app.replaced(m),

    // Someone named this user: counted in the room list until the room is read.
    mention: ({ room, message }) => {
      const r = state.rooms.get(room);
      notify(
        `${message.user.username} in #${r?.label ?? room}`,
        plainText(formatMessage(message.text)),
      );
      if (!r || room === state.current) return;
      r.mentions++;
      app.renderRoomLists();
    },

    // A small room sends everyone online; a big one only who came and went.
    presence: ({ room, members, joined, left }) => {
      const r = state.rooms.get(room);
      if (!r) return;
      r.members = members ?? state.applyPresence(r.members, joined ?? [], left ?? []);
      if (room === state.current) app.renderMembers(r);
    },

    typing: ({ room, user }) => {
      if (user.id === state.me.id) return;
      state.typingStart(room, user);
      const key = `${room}|${user.id}`;
      const old = typingTimers.get(key);
      if (old) clearTimeout(old);
      typingTimers.set(
        key,
        setTimeout(() => {
          typingTimers.delete(key);
          if (state.typingStop(room, user.id) && room === state.current) app.renderTyping();
        }, TYPING_SHOW_MS),
      );
      if (room === state.current) app.renderTyping();
    },

    "session:revoked": ({ reason }) => app.showSignedOut(REASONS[reason] ?? REASONS.expired),

    "server:shutdown": () => app.setStatus("reconnecting", "Server restarting… reconnecting"),

    "room:removed": ({ room, reason }) => {
      const label = state.rooms.get(room)?.label ?? room;
      app.dropRoom(
        room,
        reason === "left"
          ? undefined
          : reason === "banned"
            ? `You were banned from #${label}.`
            : `You were removed from #${label}.`,
      );
    },

    "room:invited": ({ room, topic, by }) => {
      const r = state.room(room, room, "room");
      if (r.joined) return;
      r.invited = true;
      r.topic = topic;
      app.renderRoomLists();
      showError(ui.joinError, `${by.username} invited you to #${room}. Pick it to join.`);
    },

    "room:updated": ({ room, topic, member }) => {
      const r = state.rooms.get(room);
      if (!r) return;
      if (topic !== undefined) r.topic = topic;
      if (member?.id === state.me.id) r.role = member.role;
      if (room === state.current) {
        app.renderTopic(r);
        app.renderManage(r);
        app.renderMessages(r, false);
      }
    },
  };
}

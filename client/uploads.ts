// Files attached to the message being written: uploaded at once (XHR, for its progress events
// and abort), one request per file, each into the room it was attached in. The tray under the
// message box shows the current room's: name, size, a progress bar, Cancel (or Remove once
// uploaded) and why an upload failed. The message carries the uploaded ones when it is sent.
import type { FileRef } from "../src/domain/types.js";
import { formatSize } from "./views/files.js";

/** Files one message may carry (the server's limit). */
export const MAX_ATTACHMENTS = 10;

export interface Attachment {
  /** This page's own id for it. */
  key: number;
  room: string;
  name: string;
  size: number;
  /** 0–1 while uploading. */
  progress: number;
  state: "uploading" | "done" | "failed";
  error?: string;
  file?: FileRef;
  xhr?: XMLHttpRequest;
}

/** Why the server refused an upload, in words for the person (its own message, when it has one). */
function refusal(status: number, body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
    if (e?.code === "csrf") return "This page is out of date: reload it and attach the file again.";
    if (e?.message) return e.message;
  } catch {
    // not JSON
  }
  if (status === 413) return "The file is too large.";
  if (status === 401) return "You are signed out.";
  if (status === 403) return "You may not share files in this room.";
  if (status >= 500) return "Uploads are unavailable right now. Try again shortly.";
  return "The upload failed.";
}

export class Uploads {
  private readonly list: Attachment[] = [];
  private next = 1;

  constructor(
    /** Called whenever an attachment changes (the tray redraws). */
    private readonly changed: () => void,
    /** The page's CSRF token (the logout form's). */
    private readonly token: () => string,
  ) {}

  /** The attachments of `room`, in the order added. */
  of(room: string): Attachment[] {
    return this.list.filter((a) => a.room === room);
  }

  /** Whether any of `room`'s is still uploading. */
  busy(room: string): boolean {
    return this.of(room).some((a) => a.state === "uploading");
  }

  /** The uploaded files of `room`, ready to go with the next message. */
  ready(room: string): FileRef[] {
    return this.of(room).flatMap((a) => (a.state === "done" && a.file ? [a.file] : []));
  }

  /** Starts uploading `files` into `room`; returns why some were not (too many). */
  add(room: string, files: Iterable<File>): string | undefined {
    let refused: string | undefined;
    // Failed ones from before leave the tray once something new is attached.
    for (let i = this.list.length - 1; i >= 0; i--) {
      if (this.list[i]?.room === room && this.list[i]?.state === "failed") this.list.splice(i, 1);
    }
    for (const f of files) {
      if (this.of(room).filter((a) => a.state !== "failed").length >= MAX_ATTACHMENTS) {
        refused = `A message can carry at most ${MAX_ATTACHMENTS} files.`;
        break;
      }
      this.start(room, f);
    }
    this.changed();
    return refused;
  }

  private start(room: string, f: File): void {
    // A pasted screenshot is "image.png" in every browser: named by when it was taken.
    const pasted = f.name === "image.png" || f.name === "";
    const name = pasted
      ? `screenshot-${new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-")}.png`
      : f.name;
    const a: Attachment = {
      key: this.next++,
      room,
      name,
      size: f.size,
      progress: 0,
      state: "uploading",
    };
    this.list.push(a);
    const xhr = new XMLHttpRequest();
    a.xhr = xhr;
    xhr.open("POST", `/rooms/${encodeURIComponent(room)}/files`);
    xhr.setRequestHeader("X-CSRF-Token", this.token());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      a.progress = e.loaded / e.total;
      this.changed();
    });
    xhr.addEventListener("load", () => {
      a.xhr = undefined;
      if (xhr.status === 201) {
        try {
          a.file = (JSON.parse(xhr.responseText) as { file: FileRef }).file;
          a.state = "done";
          a.progress = 1;
        } catch {
          a.state = "failed";
          a.error = "The upload failed.";
        }
      } else {
        a.state = "failed";
        a.error = refusal(xhr.status, xhr.responseText);
      }
      this.changed();
    });
    xhr.addEventListener("error", () => {
      a.xhr = undefined;
      a.state = "failed";
      a.error = "The connection failed during the upload.";
      this.changed();
    });
    const form = new FormData();
    form.append("file", f, name);
    xhr.send(form);
  }

  /** Cancels an upload in progress, or takes an attachment off the message. */
  remove(key: number): void {
    const i = this.list.findIndex((a) => a.key === key);
    const a = this.list[i];
    if (!a) return;
    a.xhr?.abort();
    this.list.splice(i, 1);
    if (a.state === "done" && a.file) {
      // Uploaded but not sent: deleted on the server now (else the sweep deletes it later).
      void fetch(`/rooms/${encodeURIComponent(a.room)}/files/${a.file.id}`, {
        method: "DELETE",
        headers: { "X-CSRF-Token": this.token(), Accept: "application/json" },
      }).catch(() => undefined);
    }
    this.changed();
  }

  /** The message went out with `room`'s uploaded files: they leave the tray. */
  sent(room: string): void {
    for (let i = this.list.length - 1; i >= 0; i--) {
      const a = this.list[i];
      if (a?.room === room && a.state === "done") this.list.splice(i, 1);
    }
    this.changed();
  }
}

/** Draws `room`'s attachments into the tray. */
export function renderTray(tray: HTMLUListElement, uploads: Uploads, room: string | undefined) {
  const items = room ? uploads.of(room) : [];
  tray.hidden = items.length === 0;
  tray.replaceChildren(
    ...items.map((a) => {
      const li = document.createElement("li");
      li.className = `attachment ${a.state}`;
      li.dataset.key = String(a.key);
      const name = document.createElement("span");
      name.className = "attachment-name";
      name.textContent = a.name;
      name.title = a.name;
      const size = document.createElement("span");
      size.className = "attachment-size";
      size.textContent = formatSize(a.size);
      li.append(name, size);
      if (a.state === "uploading") {
        const bar = document.createElement("progress");
        bar.max = 1;
        bar.value = a.progress;
        bar.setAttribute("aria-label", `Uploading ${a.name}`);
        li.append(bar);
      } else if (a.state === "failed") {
        const why = document.createElement("span");
        why.className = "attachment-error";
        why.setAttribute("role", "alert");
        why.textContent = a.error ?? "The upload failed.";
        li.append(why);
      }
      const x = document.createElement("button");
      x.type = "button";
      x.className = "attachment-remove";
      x.dataset.remove = String(a.key);
      x.textContent = a.state === "uploading" ? "Cancel" : "Remove";
      x.setAttribute("aria-label", `${x.textContent} ${a.name}`);
      li.append(x);
      return li;
    }),
  );
}

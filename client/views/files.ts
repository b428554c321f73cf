// A message's files: raster images as thumbnails that open the full image, everything else as
// a card (name, size, type) that downloads it. Every URL is checked by the server at each
// request, so a person removed from the room can load nothing more. An image already loaded is
// kept per file (a redraw moves the same element instead of loading it again).
import type { FileRef } from "../../src/domain/types.js";

/** The largest a thumbnail is drawn (CSS px). */
const SHOWN_W = 320;
const SHOWN_H = 240;

export function fileUrl(room: string, id: string, variant?: "thumb" | "image"): string {
  return `/rooms/${encodeURIComponent(room)}/files/${id}${variant ? `/${variant}` : ""}`;
}

export function formatSize(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} B`;
}

/** What kind of file, in words (the extension for the unknown types the server calls octet-stream). */
export function typeLabel(f: FileRef): string {
  if (f.type !== "application/octet-stream") return f.type;
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(f.name)?.[1];
  return ext ? `${ext.toUpperCase()} file` : "file";
}

const images = new Map<string, HTMLImageElement>();

function thumbnail(room: string, f: FileRef): HTMLImageElement {
  const known = images.get(f.id);
  if (known) return known;
  const img = document.createElement("img");
  const w = f.width ?? SHOWN_W;
  const h = f.height ?? SHOWN_H;
  const scale = Math.min(1, SHOWN_W / w, SHOWN_H / h);
  img.width = Math.max(1, Math.round(w * scale));
  img.height = Math.max(1, Math.round(h * scale));
  img.alt = f.name;
  img.loading = "lazy";
  img.decoding = "async";
  img.src = fileUrl(room, f.id, "thumb");
  img.addEventListener("error", () => img.classList.add("unavailable"));
  if (images.size > 2000) images.clear();
  images.set(f.id, img);
  return img;
}

export function renderFiles(room: string, files: readonly FileRef[]): HTMLElement {
  const box = document.createElement("div");
  box.className = "files";
  for (const f of files) {
    if (f.width !== undefined && f.height !== undefined) {
      const a = document.createElement("a");
      a.className = "file-image";
      a.href = fileUrl(room, f.id, "image");
      a.target = "_blank";
      a.rel = "noopener";
      a.title = `${f.name} (${f.width} × ${f.height}, ${formatSize(f.size)}): open full size`;
      a.append(thumbnail(room, f));
      box.append(a);
      continue;
    }
    const a = document.createElement("a");
    a.className = "file-card";
    a.href = fileUrl(room, f.id);
    a.download = f.name;
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = f.name;
    const meta = document.createElement("span");
    meta.className = "file-meta";
    meta.textContent = `${formatSize(f.size)} · ${typeLabel(f)}`;
    a.append(name, meta);
    a.setAttribute("aria-label", `Download ${f.name}, ${formatSize(f.size)}`);
    box.append(a);
  }
  return box;
}

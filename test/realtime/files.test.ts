// Files shared in rooms, against local disk and against S3-compatible storage (the same
// tests, twice): uploads checked before a byte is stored, downloads checked on every request,
// the type from the bytes, inline only for raster images re-encoded without metadata, limits,
// hostile files, and nothing left behind that no message refers to.
import { readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import sharp from "sharp";
import type { Message } from "../../src/contract/events.js";
import { fencedEval } from "../../src/redis/fence.js";
import { keys } from "../../src/stores/keys.js";
import { script } from "../../src/stores/lua.js";
import { paddedId } from "../../src/stores/messages.js";
import { eventually } from "../helpers/eventually.js";
import {
  download,
  fileUrl,
  jpegWithLocation,
  pageToken,
  png,
  rawUpload,
  upload,
  uploaded,
} from "../helpers/files.js";
import { Browser } from "../helpers/http.js";
import {
  PASSWORD,
  startParley,
  TEST_FILES_DIR,
  type TestParley,
  uniqueName,
} from "../helpers/parley.js";
import { startS3, type TestS3 } from "../helpers/s3.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

/** A PNG chunk: length, type, data and its CRC-32. */
function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  let c = 0xffffffff;
  for (const byte of body) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0, 8 + data.length);
  return out;
}

/** A new account on `on`, logged in, with a socket (closed by the describe's `after`). */
async function personOn(on: TestParley, sockets: ClientSocket[]) {
  const name = uniqueName("fi");
  const browser = new Browser(on.url);
  await browser.register(name, PASSWORD);
  const socket = await connect(on.url, browser);
  sockets.push(socket);
  return { name, browser, socket };
}

for (const storage of ["disk", "s3"] as const) {
  describe(`files (${storage})`, function () {
    this.timeout(30_000);
    let parley: TestParley;
    let s3: TestS3 | undefined;
    const sockets: ClientSocket[] = [];
    const env = (): Record<string, string> => ({
      FILE_MAX_BYTES: String(2 * 1024 * 1024),
      FILE_MAX_PIXELS: "4000000",
      ...(s3 ? s3.env : {}),
    });
    before(async () => {
      if (storage === "s3") s3 = await startS3();
      parley = await startParley({ env: env(), fileSweepMs: 200, fileUnsentMs: 1_500 });
    });
    after(async () => {
      for (const s of sockets) s.close();
      await parley?.close();
      await s3?.stop();
    });

    const person = (on: TestParley = parley) => personOn(on, sockets);
    /** The spool's files, and those this process (parley runs in it) holds open. */
    const spool = path.join(TEST_FILES_DIR, "spool");
    async function spoolLeft(): Promise<{ files: string[]; open: number }> {
      const files = await readdir(spool);
      let open = 0;
      for (const fd of await readdir("/proc/self/fd")) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
        if (target.startsWith(spool)) open++;
      }
      return { files, open };
    }
    let n = 0;
    const room = () => `files-${storage}-${Date.now().toString(36)}-${n++}`;

    async function send(socket: ClientSocket, r: string, text: string, files: string[]) {
      const ack = await call(socket, "message:send", { room: r, text, files });
      if (!ack.ok) throw new Error(JSON.stringify(ack));
      return ack.message;
    }

    it("shares an image: another member gets the message with it, a thumbnail and the full image, inline; the original only as a download", async () => {
      const a = await person();
      const b = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      await call(b.socket, "room:join", { room: r });
      const image = await png(1200, 900);
      const file = await uploaded(a.browser, r, "screenshot.png", image);
      expect(file).to.include({ name: "screenshot.png", type: "image/png", size: image.length });
      expect(file).to.include({ width: 1200, height: 900 });
      expect(file.id).to.match(/^[0-9a-f]{32}$/);
      expect(parley.files.blobs.kind).to.equal(storage);
      const arrived = once<Message>(b.socket, "message");
      const sent = await send(a.socket, r, "look", [file.id]);
      expect(sent.files).to.deep.equal([file]);
      expect((await arrived).files).to.deep.equal([file]);

      const thumb = await download(b.browser, r, file.id, "thumb");
      expect(thumb.status).to.equal(200);
      expect(thumb.headers.get("content-type")).to.equal("image/webp");
      expect(thumb.headers.get("content-disposition")).to.match(/^inline;/);
      expect(thumb.headers.get("cache-control")).to.equal("private, no-store");
      expect(thumb.headers.get("x-content-type-options")).to.equal("nosniff");
      expect(thumb.headers.get("content-security-policy")).to.include("sandbox");
      const tm = await sharp(thumb.bytes).metadata();
      expect(tm.format).to.equal("webp");
      expect(Math.max(tm.width ?? 0, tm.height ?? 0)).to.equal(480);

      const full = await download(b.browser, r, file.id, "image");
      expect(full.status).to.equal(200);
      expect(full.headers.get("content-type")).to.equal("image/png");
      expect((await sharp(full.bytes).metadata()).width).to.equal(1200);

      const original = await download(b.browser, r, file.id);
      expect(original.status).to.equal(200);
      expect(original.headers.get("content-disposition")).to.match(
        /^attachment; filename="screenshot.png"/,
      );
      expect(original.bytes.equals(image)).to.equal(true);
      expect(original.headers.get("accept-ranges")).to.equal("bytes");
      // Part of it (a download that resumes), the end of it, and past its end.
      const part = async (range: string) => {
        const res = await fetch(new URL(fileUrl(r, file.id), parley.url), {
          headers: { cookie: b.browser.cookieHeader(), range },
        });
        return { res, bytes: Buffer.from(await res.arrayBuffer()) };
      };
      const head = await part("bytes=0-99");
      expect(head.res.status).to.equal(206);
      expect(head.res.headers.get("content-range")).to.equal(`bytes 0-99/${image.length}`);
      expect(head.bytes.equals(image.subarray(0, 100))).to.equal(true);
      const tail = await part("bytes=-10");
      expect(tail.res.status).to.equal(206);
      expect(tail.bytes.equals(image.subarray(image.length - 10))).to.equal(true);
      const past = await part(`bytes=${image.length}-`);
      expect(past.res.status).to.equal(416);
      expect(past.res.headers.get("content-range")).to.equal(`bytes */${image.length}`);

      // History carries the files too (from Redis, and from PostgreSQL once archived).
      const h = await call(b.socket, "message:history", { room: r });
      if (!h.ok) throw new Error(JSON.stringify(h));
      expect(h.messages.at(-1)?.files).to.deep.equal([file]);
      await parley.archiver.drain();
      const stored = await parley.database.query<{ files: unknown }>(
        "SELECT files FROM messages WHERE room = $1",
        [r],
      );
      expect(stored.rows[0]?.files).to.deep.equal([file]);
      const linked = await parley.database.query<{ msg_ms: string }>(
        "SELECT msg_ms FROM files WHERE id = $1",
        [file.id],
      );
      expect(linked.rows[0]?.msg_ms).to.equal(sent.id.split("-")[0]);
    });

    it("strips metadata (EXIF location, camera) from what is shown, and orients the pixels", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const jpeg = await jpegWithLocation();
      expect((await sharp(jpeg).metadata()).exif).to.not.equal(undefined);
      const file = await uploaded(a.browser, r, "holiday.jpg", jpeg);
      expect(file.type).to.equal("image/jpeg");
      for (const variant of ["thumb", "image"] as const) {
        const d = await download(a.browser, r, file.id, variant);
        expect(d.status).to.equal(200);
        const meta = await sharp(d.bytes).metadata();
        expect(meta.exif, variant).to.equal(undefined);
        expect(meta.xmp, variant).to.equal(undefined);
        expect(d.bytes.includes("LeakyCam"), variant).to.equal(false);
      }
    });

    it("reads the type from the bytes: an HTML file named .png, an SVG with script and a polyglot are never shown inline", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const html = await uploaded(
        a.browser,
        r,
        "cat.png",
        "<html><script>alert(document.cookie)</script></html>",
      );
      expect(html.type).to.equal("application/octet-stream");
      expect(html).to.not.have.property("width");
      const svg = await uploaded(
        a.browser,
        r,
        "logo.svg",
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
      );
      expect(svg.type).to.not.match(/^image\//);
      // An image type other than the four (a BMP's header): a download, typed as bytes.
      const bmpHeader = Buffer.alloc(64);
      bmpHeader.write("BM", 0, "latin1");
      bmpHeader.writeUInt32LE(64, 2);
      bmpHeader.writeUInt32LE(54, 10);
      bmpHeader.writeUInt32LE(40, 14);
      const bmp = await uploaded(a.browser, r, "old.bmp", new Uint8Array(bmpHeader));
      expect(bmp.type).to.equal("image/bmp");
      expect(bmp).to.not.have.property("width");
      for (const f of [html, svg, bmp]) {
        expect((await download(a.browser, r, f.id, "thumb")).status).to.equal(404);
        expect((await download(a.browser, r, f.id, "image")).status).to.equal(404);
        const d = await download(a.browser, r, f.id);
        expect(d.status).to.equal(200);
        expect(d.headers.get("content-type")).to.equal("application/octet-stream");
        expect(d.headers.get("content-disposition")).to.match(/^attachment;/);
        expect(d.headers.get("x-content-type-options")).to.equal("nosniff");
        expect(d.headers.get("content-security-policy")).to.equal("default-src 'none'; sandbox");
      }
      // A PNG with HTML appended: shown inline only as pixels decoded and encoded anew.
      const polyglot = Buffer.concat([
        await png(32, 32),
        Buffer.from("<html><script>alert(1)</script></html>"),
      ]);
      // An animated PNG (an acTL chunk after the header): shown, as its first frame, a PNG.
      const still = await png(40, 30);
      const apng = Buffer.concat([
        still.subarray(0, 33),
        pngChunk("acTL", Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
        still.subarray(33),
      ]);
      const animated = await uploaded(a.browser, r, "moving.png", apng);
      expect(animated).to.include({ type: "image/apng", width: 40, height: 30 });
      const firstFrame = await download(a.browser, r, animated.id, "image");
      expect(firstFrame.headers.get("content-type")).to.equal("image/png");
      expect((await sharp(firstFrame.bytes).metadata()).format).to.equal("png");
      const p = await uploaded(a.browser, r, "poly.png", polyglot);
      expect(p.type).to.equal("image/png");
      const shown = await download(a.browser, r, p.id, "image");
      expect(shown.bytes.includes("<script>")).to.equal(false);
      const original = await download(a.browser, r, p.id);
      expect(original.headers.get("content-disposition")).to.match(/^attachment;/);
    });

    it("refuses a pixel bomb, an empty file, a file over FILE_MAX_BYTES, and cleans hostile names", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      // 5,000 × 5,000 of one colour: a few KB on the wire, 25 million pixels decoded.
      const bomb = await sharp({
        create: { width: 5000, height: 5000, channels: 3, background: "#fff" },
      })
        .png({ compressionLevel: 9 })
        .toBuffer();
      expect(bomb.length).to.be.below(200_000);
      const b = await upload(a.browser, r, "bomb.png", bomb);
      expect(b.status).to.equal(422);
      expect(b.body.error?.code).to.equal("image_too_large");
      const empty = await upload(a.browser, r, "empty.txt", "");
      expect(empty.status).to.equal(400);
      const big = await upload(a.browser, r, "big.bin", new Uint8Array(2 * 1024 * 1024 + 1));
      expect(big.status).to.equal(413);
      expect(big.body.error?.code).to.equal("too_large");
      const traversal = await uploaded(a.browser, r, "../../../etc/passwd", "root:x:0:0");
      expect(traversal.name).to.equal("passwd");
      const windows = await uploaded(a.browser, r, "..\\..\\boot.ini", "x");
      expect(windows.name).to.equal("boot.ini");
      const bidi = await uploaded(a.browser, r, "invoice\u202Efdp.exe", "x");
      expect(bidi.name).to.equal("invoicefdp.exe");
      const long = await uploaded(a.browser, r, `${"a".repeat(10_000)}.txt`, "x");
      expect([...long.name].length).to.equal(200);
      expect(long.name.endsWith(".txt")).to.equal(true);
      // Nothing of the refused ones is left: no record, no blob, no spool file.
      const rows = await parley.database.query<{ name: string }>(
        "SELECT name FROM files WHERE room = $1",
        [r],
      );
      expect(rows.rows.map((x) => x.name).sort()).to.deep.equal(
        [traversal.name, windows.name, bidi.name, long.name].sort(),
      );
      await eventually(async () => {
        expect(await spoolLeft()).to.deep.equal({ files: [], open: 0 });
      });
    });

    it("answers a multipart body cut short (no closing boundary) with 400, in any part, and keeps serving", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const token = await pageToken(a.browser);
      for (const field of ["file", "other"]) {
        const body = `--BND\r\nContent-Disposition: form-data; name="${field}"; filename="a.txt"\r\n\r\nAAA\r\n`;
        const res = await fetch(new URL(`/rooms/${r}/files`, parley.url), {
          method: "POST",
          headers: {
            cookie: a.browser.cookieHeader(),
            origin: parley.url,
            accept: "application/json",
            "x-csrf-token": token,
            "content-type": "multipart/form-data; boundary=BND",
          },
          body,
        });
        expect(res.status, field).to.equal(400);
      }
      expect((await fetch(new URL("/healthz", parley.url))).status).to.equal(200);
      await eventually(async () => {
        expect(await spoolLeft()).to.deep.equal({ files: [], open: 0 });
      });
    });

    it("takes uploads to a DM only under the name message:send takes, with someone at the other end", async () => {
      const a = await person();
      const b = await person();
      const dm = await call(a.socket, "dm:open", { username: b.name });
      if (!dm.ok) throw new Error(JSON.stringify(dm));
      const [x, y] = dm.room.slice(3).split(":") as [string, string];
      const me = (await idOf(a.browser)) as string;
      const image = await png();
      expect((await upload(a.browser, dm.room, "ok.png", image)).status).to.equal(201);
      expect((await upload(a.browser, `dm:${y}:${x}`, "x.png", image)).status).to.equal(404);
      expect((await upload(a.browser, `dm:${me}:${me}`, "x.png", image)).status).to.equal(404);
      const nobody = "ffffffff-ffff-4fff-bfff-ffffffffffff";
      const [lo, hi] = me < nobody ? [me, nobody] : [nobody, me];
      expect((await upload(a.browser, `dm:${lo}:${hi}`, "x.png", image)).status).to.equal(404);
    });

    it("checks the login, its CSRF token and the right to write before storing anything", async () => {
      const a = await person();
      const outsider = await person();
      const r = room();
      await call(a.socket, "room:create", { room: r, kind: "private" });
      const image = await png();
      // No token, a wrong one, no login.
      expect((await upload(a.browser, r, "x.png", image, { token: null })).status).to.equal(403);
      expect((await upload(a.browser, r, "x.png", image, { token: "nope" })).status).to.equal(403);
      const anonymous = new Browser(parley.url);
      const anon = await upload(anonymous, r, "x.png", image, { token: null });
      expect(anon.status).to.be.oneOf([401, 403]);
      // Not a member of the private room: as if it did not exist. Not joined to a public one.
      const out = await upload(outsider.browser, r, "x.png", image);
      expect(out.status).to.equal(404);
      const pub = room();
      await call(a.socket, "room:join", { room: pub });
      const notJoined = await upload(outsider.browser, pub, "x.png", image);
      expect(notJoined.status).to.equal(403);
      expect(notJoined.body.error?.code).to.equal("not_joined");
      // A DM between two others.
      const dm = await call(a.socket, "dm:open", { username: (await person()).name });
      if (!dm.ok) throw new Error(JSON.stringify(dm));
      expect((await upload(outsider.browser, dm.room, "x.png", image)).status).to.equal(404);
      expect((await upload(a.browser, dm.room, "x.png", image)).status).to.equal(201);
      const outsiderId = await idOf(outsider.browser);
      expect(outsiderId).to.match(/^[0-9a-f-]{36}$/);
      const rows = await parley.database.query("SELECT 1 FROM files WHERE uploader = $1", [
        outsiderId,
      ]);
      expect(rows.rowCount).to.equal(0);
    });

    async function idOf(browser: Browser): Promise<string> {
      const page = await browser.get("/account");
      const m = /data-user-id="([^"]+)"/.exec(page.body);
      if (m?.[1]) return m[1];
      const r = await parley.redis.get(
        keys.session(
          decodeURIComponent(browser.cookies.get("parley.sid") ?? "")
            .slice(2)
            .split(".")[0] ?? "",
        ),
      );
      return (JSON.parse(r ?? "{}") as { passport?: { user?: string } }).passport?.user ?? "";
    }

    it("serves a file only to who may read its room, at each request: removal, ban, logout and a password change take effect at once", async () => {
      const owner = await person();
      const reader = await person();
      const stranger = await person();
      const r = room();
      await call(owner.socket, "room:create", { room: r, kind: "private" });
      await call(owner.socket, "room:invite", { room: r, username: reader.name });
      await call(reader.socket, "room:join", { room: r });
      const file = await uploaded(owner.browser, r, "plan.png", await png());
      await send(owner.socket, r, "plan", [file.id]);
      expect((await download(reader.browser, r, file.id, "thumb")).status).to.equal(200);
      // Someone outside the private room, and a wrong room in the URL, learn nothing.
      expect((await download(stranger.browser, r, file.id, "thumb")).status).to.equal(404);
      const other = room();
      await call(stranger.socket, "room:join", { room: other });
      expect((await download(stranger.browser, other, file.id, "thumb")).status).to.equal(404);
      // No cookie at all.
      expect((await download(new Browser(parley.url), r, file.id)).status).to.equal(401);
      // Removed: refused at the next request.
      await call(owner.socket, "room:remove", { room: r, username: reader.name });
      expect((await download(reader.browser, r, file.id, "thumb")).status).to.be.oneOf([403, 404]);

      // A public room: readable by anyone not banned; a ban holds at the next request.
      const pub = room();
      await call(owner.socket, "room:join", { room: pub });
      const pf = await uploaded(owner.browser, pub, "pub.png", await png());
      await send(owner.socket, pub, "pub", [pf.id]);
      expect((await download(stranger.browser, pub, pf.id)).status).to.equal(200);
      await call(owner.socket, "room:ban", { room: pub, username: stranger.name });
      expect((await download(stranger.browser, pub, pf.id)).status).to.equal(403);

      // Logout, then a password change (another login of the same user).
      const reader2 = await person();
      await call(owner.socket, "room:join", { room: pub });
      expect((await download(reader2.browser, pub, pf.id)).status).to.equal(200);
      const token = await pageToken(reader2.browser);
      const copy = new Browser(parley.url);
      for (const [k, v] of reader2.browser.cookies) copy.cookies.set(k, v);
      await reader2.browser.post("/logout", { _csrf: token });
      expect((await download(copy, pub, pf.id)).status).to.equal(401);
      const c = await person();
      const other2 = new Browser(parley.url);
      await other2.login(c.name, PASSWORD);
      expect((await download(other2, pub, pf.id)).status).to.equal(200);
      const t = await c.browser.csrf("/account");
      const changed = await c.browser.post("/account/password", {
        _csrf: t,
        current: PASSWORD,
        password: "another horse battery",
        confirm: "another horse battery",
      });
      expect(changed.status).to.be.below(400);
      expect((await download(other2, pub, pf.id)).status).to.equal(401);
    });

    it("attaches an upload once, only its uploader's, only in its room; up to 10 per message", async () => {
      const a = await person();
      const b = await person();
      const r = room();
      const r2 = room();
      for (const x of [r, r2]) {
        await call(a.socket, "room:join", { room: x });
        await call(b.socket, "room:join", { room: x });
      }
      const file = await uploaded(a.browser, r, "a.txt", "hello");
      const stolen = await call(b.socket, "message:send", {
        room: r,
        text: "mine",
        files: [file.id],
      });
      expect(stolen.ok).to.equal(false);
      if (!stolen.ok) expect(stolen.error.code).to.equal("invalid");
      const elsewhere = await call(a.socket, "message:send", {
        room: r2,
        text: "x",
        files: [file.id],
      });
      expect(elsewhere.ok).to.equal(false);
      // Nothing was taken by the refusals: it is still attachable once.
      const sent = await send(a.socket, r, "", [file.id]);
      expect(sent.text).to.equal("");
      const again = await call(a.socket, "message:send", { room: r, text: "x", files: [file.id] });
      expect(again.ok).to.equal(false);
      const eleven = Array.from({ length: 11 }, (_, i) => i.toString(16).padStart(32, "0"));
      const tooMany = await call(a.socket, "message:send", { room: r, text: "x", files: eleven });
      expect(tooMany.ok).to.equal(false);
      if (!tooMany.ok) expect(tooMany.error.code).to.equal("invalid");
      // A retry with the same client id answers the stored message with its files.
      const f2 = await uploaded(a.browser, r, "b.txt", "again");
      const clientId = `cid-${Date.now()}`;
      const first = await call(a.socket, "message:send", {
        room: r,
        text: "t",
        clientId,
        files: [f2.id],
      });
      const retry = await call(a.socket, "message:send", {
        room: r,
        text: "t",
        clientId,
        files: [f2.id],
      });
      if (!first.ok || !retry.ok) throw new Error(JSON.stringify([first, retry]));
      expect(retry.message.id).to.equal(first.message.id);
      expect(retry.message.files).to.deep.equal([f2]);
    });

    it("deletes a message's files with it, and sweeps uploads never sent", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const file = await uploaded(a.browser, r, "gone.png", await png());
      const sent = await send(a.socket, r, "soon gone", [file.id]);
      expect((await download(a.browser, r, file.id)).status).to.equal(200);
      const del = await call(a.socket, "message:delete", { room: r, id: sent.id });
      expect(del.ok).to.equal(true);
      if (del.ok) expect(del.message.files).to.equal(undefined);
      expect((await download(a.browser, r, file.id)).status).to.equal(404);
      expect((await download(a.browser, r, file.id, "thumb")).status).to.equal(404);
      // The sweep forgets it once its bytes are gone.
      await eventually(
        async () => {
          const left = await parley.database.query("SELECT 1 FROM files WHERE id = $1", [file.id]);
          expect(left.rowCount).to.equal(0);
        },
        { within: 10_000 },
      );
      expect(await parley.files.blobs.open(file.id)).to.equal(undefined);
      // An upload never sent goes after the deadline (1.5 s here; a day by default).
      const unsent = await uploaded(a.browser, r, "never.txt", "never sent");
      await eventually(
        async () => {
          const left = await parley.database.query("SELECT 1 FROM files WHERE id = $1", [
            unsent.id,
          ]);
          expect(left.rowCount).to.equal(0);
        },
        { within: 10_000 },
      );
      expect(await parley.files.blobs.open(unsent.id)).to.equal(undefined);
    });

    it("lets the uploader take an unsent upload back (deleted at once), never a sent one or someone else's", async () => {
      const a = await person();
      const b = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      await call(b.socket, "room:join", { room: r });
      const withdraw = async (who: typeof a, id: string, token?: string | null) => {
        const t = token === undefined ? await pageToken(who.browser) : token;
        const res = await fetch(new URL(`/rooms/${r}/files/${id}`, parley.url), {
          method: "DELETE",
          headers: {
            cookie: who.browser.cookieHeader(),
            origin: parley.url,
            accept: "application/json",
            ...(t ? { "x-csrf-token": t } : {}),
          },
        });
        return res.status;
      };
      const f = await uploaded(a.browser, r, "oops.txt", "wrong file");
      expect(await withdraw(a, f.id, null)).to.equal(403);
      expect(await withdraw(b, f.id)).to.equal(404);
      expect(await withdraw(a, f.id)).to.equal(200);
      expect((await download(a.browser, r, f.id)).status).to.equal(404);
      const refused = await call(a.socket, "message:send", { room: r, text: "x", files: [f.id] });
      expect(refused.ok).to.equal(false);
      const sent = await uploaded(a.browser, r, "kept.txt", "right file");
      await send(a.socket, r, "here", [sent.id]);
      expect(await withdraw(a, sent.id)).to.equal(404);
      expect((await download(b.browser, r, sent.id)).status).to.equal(200);
    });

    it("offers a message's files again when the message is taken back (its replicas never confirmed it)", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const f = await uploaded(a.browser, r, "again.png", await png());
      const sent = await send(a.socket, r, "soon taken back", [f.id]);
      await parley.archiver.drain();
      const linked = async () =>
        (
          await parley.database.query<{ msg_ms: string | null }>(
            "SELECT msg_ms FROM files WHERE id = $1",
            [f.id],
          )
        ).rows[0]?.msg_ms ?? null;
      expect(await linked()).to.equal(sent.id.split("-")[0]);
      // What message-append's caller does when the replicas do not confirm in time.
      await fencedEval(
        parley.redis,
        script("message-take-back"),
        [
          keys.roomMessages(r),
          keys.roomMessages(r),
          keys.roomPendingEdits(r),
          keys.roomCounts(r),
          keys.fileUpload(r, f.id),
        ],
        [sent.id, paddedId(sent.id), sent.user.id, "3600"],
      );
      parley.archiver.touch(r);
      await parley.archiver.drain();
      expect(await linked()).to.equal(null);
      // The retry attaches it again, and the archive links it to the new message.
      const retry = await send(a.socket, r, "sent again", [f.id]);
      expect(retry.files?.[0]?.id).to.equal(f.id);
      await parley.archiver.drain();
      expect(await linked()).to.equal(retry.id.split("-")[0]);
    });

    it("takes at most 4 uploads of one user at once", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const token = await pageToken(a.browser);
      const held = Array.from({ length: 4 }, () => {
        const source = new Readable({ read() {} });
        const up = rawUpload(a.browser, r, token, source, { contentLength: 1000 });
        up.reply.catch(() => undefined);
        source.push(Buffer.alloc(10, 1));
        return { source, up };
      });
      // All four are under way once each has reserved its bytes of the quota.
      const id = await idOf(a.browser);
      const quota = keys.fileQuota(id, new Date().toISOString().slice(0, 10));
      await eventually(async () =>
        expect(Number(await parley.redis.get(quota))).to.be.at.least(4 * 1000),
      );
      const fifth = await upload(a.browser, r, "fifth.txt", "five");
      expect(fifth.status).to.equal(429);
      expect(fifth.body.error?.message).to.match(/^At most 4 uploads at once/);
      for (const h of held) h.up.request.destroy();
      await eventually(async () => expect(Number(await parley.redis.get(quota))).to.equal(0));
      expect((await upload(a.browser, r, "later.txt", "later")).status).to.equal(201);
      await eventually(async () => {
        expect(await spoolLeft()).to.deep.equal({ files: [], open: 0 });
      });
    });

    it("keeps nothing of an upload whose client goes away in the middle, and gives its quota back", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const token = await pageToken(a.browser);
      const source = new Readable({ read() {} });
      const { request, reply } = rawUpload(a.browser, r, token, source, {
        contentLength: 1024 * 1024,
      });
      reply.catch(() => undefined);
      source.push(Buffer.alloc(300 * 1024, 1));
      await new Promise((resolve) => setTimeout(resolve, 300));
      request.destroy();
      const id = await idOf(a.browser);
      const day = new Date().toISOString().slice(0, 10);
      await eventually(async () => {
        expect(Number((await parley.redis.get(keys.fileQuota(id, day))) ?? 0)).to.equal(0);
      });
      const rows = await parley.database.query("SELECT 1 FROM files WHERE uploader = $1", [id]);
      expect(rows.rowCount).to.equal(0);
      await eventually(async () => {
        expect(await spoolLeft()).to.deep.equal({ files: [], open: 0 });
      });
    });
  });
}

describe("files: limits, signed URLs and two processes", function () {
  this.timeout(30_000);
  const sockets: ClientSocket[] = [];
  const started: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const s of sockets) s.close();
    for (const p of started.reverse()) await p.close();
  });
  const person = (on: TestParley) => personOn(on, sockets);
  const room = () => `flim-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

  it("counts a daily quota, an upload budget and a room's daily count, each refused with its code and nothing stored", async () => {
    const parley = await startParley({
      env: {
        FILE_QUOTA_BYTES: "10000",
        FILE_UPLOADS_PER_MINUTE: "4",
        ROOM_FILES_PER_DAY: "3",
      },
    });
    started.push(parley);
    const a = await person(parley);
    const b = await person(parley);
    const r = room();
    await call(a.socket, "room:join", { room: r });
    await call(b.socket, "room:join", { room: r });
    await uploaded(a.browser, r, "a.bin", "x".repeat(6000));
    const over = await upload(a.browser, r, "b.bin", "x".repeat(6000));
    expect(over.status).to.equal(429);
    expect(over.body.error?.code).to.equal("over_quota");
    expect(Number(over.headers.get("retry-after"))).to.be.within(1, 86_400);
    // What is left of the quota still takes a smaller file; refusals left it whole.
    await uploaded(a.browser, r, "c.bin", "x".repeat(3000));
    // The room has had 2; a third from someone else fills its day.
    await uploaded(b.browser, r, "d.bin", "y");
    const full = await upload(b.browser, r, "e.bin", "y");
    expect(full.status).to.equal(429);
    expect(full.body.error?.code).to.equal("room_limit");
    // Four uploads begun this minute (the refused one counts): the fifth is refused.
    const r2 = room();
    await call(a.socket, "room:join", { room: r2 });
    await uploaded(a.browser, r2, "g.bin", "z");
    const fifth = await upload(a.browser, r2, "f.bin", "z");
    expect(fifth.status).to.equal(429);
    expect(fifth.body.error?.code).to.equal("rate_limited");
    const rows = await parley.database.query<{ name: string }>(
      "SELECT name FROM files WHERE room = $1 ORDER BY created_at",
      [r],
    );
    expect(rows.rows.map((x) => x.name)).to.deep.equal(["a.bin", "c.bin", "d.bin"]);
  });

  it("with FILES_S3_SIGNED_URLS, hands out a 5-minute signed URL for the original, only after the check", async () => {
    const s3 = await startS3();
    started.push({ close: () => s3.stop() });
    const parley = await startParley({ env: { ...s3.env, FILES_S3_SIGNED_URLS: "true" } });
    started.push(parley);
    const a = await person(parley);
    const stranger = await person(parley);
    const r = room();
    await call(a.socket, "room:create", { room: r, kind: "private" });
    const bytes = await png();
    const file = await uploaded(a.browser, r, "s.png", bytes);
    const d = await download(a.browser, r, file.id);
    expect(d.status).to.equal(302);
    const location = new URL(d.headers.get("location") ?? "");
    expect(location.searchParams.get("X-Amz-Expires")).to.equal("300");
    const fetched = await fetch(location);
    expect(fetched.status).to.equal(200);
    expect(fetched.headers.get("content-disposition")).to.match(/^attachment;/);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(bytes)).to.equal(true);
    // Refused before any URL is made.
    const refused = await download(stranger.browser, r, file.id);
    expect(refused.status).to.equal(404);
    expect(refused.headers.get("location")).to.equal(null);
    // Thumbnails are still served by parley (inline, with its headers).
    expect((await download(a.browser, r, file.id, "thumb")).status).to.equal(200);
  });

  it("says in /readyz when the object store does not answer (still ready: chat does not need it)", async () => {
    const s3 = await startS3();
    const parley = await startParley({ env: s3.env });
    started.push(parley);
    const ready = async () => {
      const res = await fetch(new URL("/readyz", parley.url));
      return { status: res.status, files: res.headers.get("x-parley-files") };
    };
    expect(await ready()).to.deep.equal({ status: 200, files: "ok" });
    await s3.stop();
    await eventually(
      async () => expect(await ready()).to.deep.equal({ status: 200, files: "unavailable" }),
      {
        within: 10_000,
      },
    );
  });

  it("across two processes: a ban between upload and send refuses the send; a removal on one process refuses the next download on the other", async () => {
    const one = await startParley();
    started.push(one);
    const two = await startParley();
    started.push(two);
    const owner = await person(one);
    const member = await person(one);
    const r = room();
    await call(owner.socket, "room:join", { room: r });
    await call(member.socket, "room:join", { room: r });
    const file = await uploaded(member.browser, r, "m.png", await png());
    // The owner, connected to the other process, bans the member.
    const ownerTwo = new Browser(two.url);
    for (const [k, v] of owner.browser.cookies) ownerTwo.cookies.set(k, v);
    const ownerSocketTwo = await connect(two.url, ownerTwo);
    sockets.push(ownerSocketTwo);
    const banned = await call(ownerSocketTwo, "room:ban", { room: r, username: member.name });
    expect(banned.ok).to.equal(true);
    const sent = await call(member.socket, "message:send", {
      room: r,
      text: "x",
      files: [file.id],
    });
    expect(sent.ok).to.equal(false);
    if (!sent.ok) expect(sent.error.code).to.equal("forbidden");
    // And a fresh upload is refused before a byte is stored.
    const again = await upload(member.browser, r, "n.png", await png());
    expect(again.status).to.equal(403);

    // A member reads a file through process two; removed on process one, the next request fails.
    const reader = await person(one);
    await call(reader.socket, "room:join", { room: r });
    const shared = await uploaded(owner.browser, r, "o.png", await png());
    await call(owner.socket, "message:send", { room: r, text: "o", files: [shared.id] });
    const readerTwo = new Browser(two.url);
    for (const [k, v] of reader.browser.cookies) readerTwo.cookies.set(k, v);
    expect((await download(readerTwo, r, shared.id, "thumb")).status).to.equal(200);
    const removed = await call(owner.socket, "room:ban", { room: r, username: reader.name });
    expect(removed.ok).to.equal(true);
    expect((await download(readerTwo, r, shared.id, "thumb")).status).to.equal(403);
  });
});

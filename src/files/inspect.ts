// What a file is, from its bytes alone (file-type reads its magic numbers; the name and the
// type the client sent are never trusted), and, for raster images, the variants shown inline:
// a thumbnail and a full-size copy, both decoded and encoded anew by sharp (libvips), which
// drops every piece of metadata (EXIF, with any location in it, XMP, ICC comments) and refuses
// an image of more than `maxPixels` decoded pixels before decoding it (a decompression bomb).
// Only PNG, JPEG, GIF and WebP are ever shown inline; everything else (SVG and HTML included)
// is served only as a download.
import { availableParallelism } from "node:os";
import { fileTypeFromFile } from "file-type";
import sharp, { type Metadata } from "sharp";

/** The types shown inline, as file-type names them and as sharp reads them. */
const RASTER: Record<string, "png" | "jpeg" | "gif" | "webp"> = {
  "image/png": "png",
  // An animated PNG (an acTL chunk): read as a PNG, its first frame (libvips reads no more).
  "image/apng": "png",
  "image/jpeg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp",
};

/**
 * Images rendered at once in this process: half the cores (at least one). sharp runs on
 * libuv's thread pool, which file reads and password hashing share; a crowd of large images
 * must not take all of it. Others wait their turn, at most RENDER_QUEUE of them; past that an
 * upload is refused as busy (a moment later it goes through).
 */
export const RENDERS = Math.max(1, Math.floor(availableParallelism() / 2));
const RENDER_QUEUE = 32;
let rendering = 0;
const waiting: (() => void)[] = [];

/** Images being rendered now, and waiting their turn (tests, metrics). */
export function renderLoad(): { running: number; waiting: number } {
  return { running: rendering, waiting: waiting.length };
}

/** Too many images wait to be rendered: try again shortly. */
export class RenderBusy extends Error {
  constructor() {
    super("too many images are being processed: try again in a moment");
    this.name = "RenderBusy";
  }
}

/** Renders each uploader has running or waiting: a share of the queue, not all of it. */
const PER_OWNER = 2;
const byOwner = new Map<string, number>();

async function turn<T>(owner: string, work: () => Promise<T>): Promise<T> {
  const mine = byOwner.get(owner) ?? 0;
  if (mine >= PER_OWNER) throw new RenderBusy();
  if (rendering >= RENDERS && waiting.length >= RENDER_QUEUE) throw new RenderBusy();
  byOwner.set(owner, mine + 1);
  try {
    if (rendering >= RENDERS) await new Promise<void>((resolve) => waiting.push(resolve));
    else rendering++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else rendering--;
    }
  } finally {
    const left = (byOwner.get(owner) ?? 1) - 1;
    if (left > 0) byOwner.set(owner, left);
    else byOwner.delete(owner);
  }
}

/** The most frames an animation may have (each is decoded and encoded again, twice). */
export const MAX_FRAMES = 1_000;
/** How long one image's rendering may take (s): past it, libvips stops and it is refused. */
const RENDER_SECONDS = 20;

/** The longest side of a thumbnail (px). */
export const THUMB_SIZE = 480;

/** An image sharp refused: too many pixels, or not decodable. */
export class ImageRefused extends Error {
  constructor(
    readonly reason: "too_large" | "damaged",
    message: string,
  ) {
    super(message);
    this.name = "ImageRefused";
  }
}

/** The MIME type of the spooled file at `file`, from its bytes ("application/octet-stream" when unknown). */
export async function detectType(file: string): Promise<string> {
  const found = await fileTypeFromFile(file);
  return found?.mime ?? "application/octet-stream";
}

export function isRaster(type: string): boolean {
  return type in RASTER;
}

/** The type of an image's re-encoded full-size copy (an animated PNG's is a still PNG). */
export function imageVariantType(type: string): string {
  return type === "image/apng" ? "image/png" : type;
}

export interface Rendered {
  width: number;
  height: number;
  /** WebP thumbnail, at most THUMB_SIZE on its longest side. */
  thumb: string;
  /** The full image re-encoded in its own format, without metadata. */
  image: string;
}

/**
 * Makes the inline variants of the raster image at `file` (of detected `type`), written beside
 * it as `<file>.thumb` and `<file>.image`. Refuses (ImageRefused) an image of more than
 * `maxPixels` pixels (per frame, times its frames for an animation) or one that does not
 * decode as the type its bytes claim.
 */
export function renderImage(
  file: string,
  type: string,
  maxPixels: number,
  /** Whose upload it is (each has a share of the queue). */
  owner = "",
): Promise<Rendered> {
  return turn(owner, () => render(file, type, maxPixels));
}

async function render(file: string, type: string, maxPixels: number): Promise<Rendered> {
  const format = RASTER[type];
  if (!format) throw new Error(`not a raster image type: ${type}`);
  const animated = format === "gif" || format === "webp";
  const input = () =>
    sharp(file, {
      // Checked by libvips from the header, before any pixel is decoded.
      limitInputPixels: maxPixels,
      failOn: "error",
      animated,
      sequentialRead: true,
    }).timeout({ seconds: RENDER_SECONDS });
  let meta: Metadata;
  try {
    meta = await input().metadata();
  } catch (err) {
    throw refusal(err);
  }
  // What libvips decodes must be what the bytes were detected as: a file whose magic says PNG
  // but which another loader would read is refused, never passed on to that loader.
  if (meta.format !== format) {
    throw new ImageRefused("damaged", "the image's contents do not match its type");
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  const frames = meta.pages ?? 1;
  if (frames > MAX_FRAMES) {
    throw new ImageRefused(
      "too_large",
      `the animation has more than ${MAX_FRAMES.toLocaleString("en")} frames`,
    );
  }
  if (width * height * frames > maxPixels) {
    throw new ImageRefused(
      "too_large",
      `the image has more than ${maxPixels.toLocaleString("en")} pixels`,
    );
  }
  const thumb = `${file}.thumb`;
  const image = `${file}.image`;
  try {
    // autoOrient applies the EXIF orientation to the pixels (the tag itself is dropped).
    await input()
      .autoOrient()
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: "inside", withoutEnlargement: true })
      .webp({ quality: 80 })
      .toFile(thumb);
    const full = input().autoOrient();
    const encoded =
      format === "png"
        ? full.png()
        : format === "jpeg"
          ? full.jpeg({ quality: 90 })
          : format === "gif"
            ? full.gif()
            : full.webp({ quality: 90 });
    await encoded.toFile(image);
  } catch (err) {
    throw refusal(err);
  }
  const rotated = meta.orientation !== undefined && meta.orientation >= 5;
  return { width: rotated ? height : width, height: rotated ? width : height, thumb, image };
}

function refusal(err: unknown): ImageRefused {
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) {
    return new ImageRefused("too_large", "the image has too many pixels to be shown");
  }
  if (/timeout/i.test(message)) {
    return new ImageRefused("too_large", "the image takes too long to process");
  }
  return new ImageRefused("damaged", "the image could not be read");
}

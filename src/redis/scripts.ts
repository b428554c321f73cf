// Redis scripts as files. Each script is a `.lua` file that opens with a header naming its
// keys and arguments, then (a fenced write) the fence, then one line binding each name:
//
//   --[[
//     What the script does, and what it returns.
//     KEYS[1] members_key   the room's members (hash)
//     ARGV[1] user_id       who joins
//     ARGV[2...] admin_ids  any number more (a variadic tail, KEYS or ARGV; Lua's stack
//                           bounds it to a few thousand)
//   ]]
//   --- @include "fence"
//   local members_key = KEYS[1]
//   local user_id = ARGV[1]
//   local admin_ids = { unpack(ARGV, 2) }
//
// The loader refuses a script whose bindings are not exactly the header's names, in order,
// one line each, right after the header (and the fence), or that mentions KEYS or ARGV
// anywhere after them (comments and strings aside): the script uses the names, never a
// position. `--- @include "name"` pastes in a shared part once, found beside the script in
// `includes/`, else in this wing's `lua/` (`fence`, `clock`). A script whose first line after
// the header includes the fence is a fenced write: it runs only through fencedEval (fence.ts)
// and the fence takes its deadline off ARGV before anything reads ARGV or writes. Any other
// script runs through runScript. Both send the script's SHA1 (EVALSHA), and the script itself
// only to a Redis that does not know it yet.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "./client.js";

export interface Script {
  /** The file's name without `.lua`. */
  readonly name: string;
  /** The text sent to Redis: includes pasted in (a fenced script inside its outcome wrapper). */
  readonly text: string;
  readonly sha: string;
  /** Includes the fence: a fenced write, run by fencedEval. */
  readonly fenced: boolean;
  /** The keys and arguments the header names, in order. */
  readonly keys: readonly string[];
  readonly args: readonly string[];
  /** The last key or argument stands for any number (0 or more) of them. */
  readonly moreKeys: boolean;
  readonly moreArgs: boolean;
}

/** Where the shared parts of every script live (the fence, the clock). */
const WING_LUA = new URL("./lua/", import.meta.url);

const HEADER_LINE = /^\s*(KEYS|ARGV)\[(\d+)(\.\.\.)?\]\s+([a-z_][a-z0-9_]*)\b/;
const INCLUDE_LINE = /^--- @include "([a-z0-9-]+)"\s*$/;

/** Reads, checks and composes one script (at start-up: a broken script stops parley there). */
export function loadScript(file: URL): Script {
  const path = fileURLToPath(file);
  const name = path.replace(/^.*\//, "").replace(/\.lua$/, "");
  const source = readFileSync(file, "utf8");
  const fail = (why: string): never => {
    throw new Error(`Redis script ${path}: ${why}`);
  };
  const header = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(source);
  if (!header) fail("it must open with a --[[ ... ]] header naming its KEYS and ARGV");
  const declared: Record<"KEYS" | "ARGV", { name: string; more: boolean }[]> = {
    KEYS: [],
    ARGV: [],
  };
  for (const line of (header as RegExpExecArray)[1]?.split("\n") ?? []) {
    const m = HEADER_LINE.exec(line);
    if (!m) continue;
    const [, kind, at, more, bound] = m as unknown as [
      string,
      "KEYS" | "ARGV",
      string,
      string,
      string,
    ];
    const list = declared[kind];
    if (Number(at) !== list.length + 1) fail(`${kind}[${at}] is out of order in the header`);
    if (list.at(-1)?.more) fail(`${kind}[${at}] follows a variadic ${kind}`);
    list.push({ name: bound, more: more !== undefined });
  }

  // After the header: the fence first, if the script is a fenced write (it takes the deadline
  // off ARGV before anything reads ARGV or writes), then every binding the header declares,
  // exactly once, in its order, and then the script, which names no KEYS or ARGV at all.
  const lines = source.slice((header as RegExpExecArray)[0].length).split("\n");
  let at = 0;
  const fencedScript = lines[0] === '--- @include "fence"';
  if (fencedScript) at = 1;
  const bindings = [
    ...declared.KEYS.map((k, i) => binding("KEYS", k, i)),
    ...declared.ARGV.map((a, i) => binding("ARGV", a, i)),
  ];
  for (const expected of bindings) {
    if (lines[at] !== expected) {
      fail(
        `after the header${fencedScript ? " and the fence" : ""} comes "${expected}" (the header's names, bound in order, one line each), not "${lines[at] ?? ""}"`,
      );
    }
    at++;
  }
  const rest = lines.slice(at);
  const named = /\b(KEYS|ARGV)\b/.exec(codeOnly(rest.join("\n")));
  if (named) {
    fail(`${named[1]} used past the bindings: use the names the header declares`);
  }
  if (rest.some((l) => INCLUDE_LINE.exec(l)?.[1] === "fence")) {
    fail(`the fence must come first, right after the header: '--- @include "fence"'`);
  }

  const included = new Set<string>(fencedScript ? ["fence"] : []);
  const read = (part: string, from: URL): { text: string; at: URL } => {
    for (const at of [new URL(`includes/${part}.lua`, from), new URL(`${part}.lua`, WING_LUA)]) {
      try {
        return { text: readFileSync(at, "utf8"), at };
      } catch {
        // not here: look in the next place
      }
    }
    return fail(`no include "${part}" (looked in includes/ beside it and in src/redis/lua/)`);
  };
  const compose = (text: string, from: URL): string =>
    text
      .split("\n")
      .map((line) => {
        const inc = INCLUDE_LINE.exec(line);
        if (!inc) return line;
        const part = inc[1] as string;
        if (included.has(part)) return `-- (${part}: included above)`;
        included.add(part);
        const found = read(part, from);
        return compose(found.text.replace(/\n$/, ""), found.at);
      })
      .join("\n");
  const fencePart = fencedScript ? read("fence", file) : undefined;
  const fence = fencePart ? `${compose(fencePart.text.replace(/\n$/, ""), fencePart.at)}\n` : "";
  const body = fence + compose(lines.slice(fencedScript ? 1 : 0).join("\n"), file);

  const fenced = fencedScript;
  const text = fenced ? wrapInOutcome(body) : body;
  return {
    name,
    text,
    sha: createHash("sha1").update(text).digest("hex"),
    fenced,
    keys: declared.KEYS.map((k) => k.name),
    args: declared.ARGV.map((a) => a.name),
    moreKeys: declared.KEYS.at(-1)?.more === true,
    moreArgs: declared.ARGV.at(-1)?.more === true,
  };
}

/** The line that binds a header's name to its position. */
function binding(kind: "KEYS" | "ARGV", d: { name: string; more: boolean }, i: number): string {
  return d.more
    ? `local ${d.name} = { unpack(${kind}, ${i + 1}) }`
    : `local ${d.name} = ${kind}[${i + 1}]`;
}

/**
 * Lua source with its comments and string literals blanked out (short and long forms, with
 * their levels: `--[==[ ]==]`, `[[ ]]`, quotes with escapes), so that what remains is code.
 */
export function codeOnly(lua: string): string {
  let out = "";
  let i = 0;
  const longClose = (from: number): number => {
    const m = /^\[(=*)\[/.exec(lua.slice(from));
    if (!m) return -1;
    const end = lua.indexOf(`]${m[1]}]`, from + m[0].length);
    return end < 0 ? lua.length : end + (m[1] ?? "").length + 2;
  };
  while (i < lua.length) {
    const c = lua[i];
    if (c === "-" && lua[i + 1] === "-") {
      const end = longClose(i + 2);
      if (end >= 0) i = end;
      else {
        const nl = lua.indexOf("\n", i);
        i = nl < 0 ? lua.length : nl;
      }
      out += " ";
      continue;
    }
    if (c === "[") {
      const end = longClose(i);
      if (end >= 0) {
        out += '""';
        i = end;
        continue;
      }
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < lua.length && lua[j] !== c && lua[j] !== "\n") j += lua[j] === "\\" ? 2 : 1;
      out += '""';
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** A fenced script inside the wrapper that notes its outcome when it runs late (fence.ts). */
function wrapInOutcome(body: string): string {
  const wrapper = readFileSync(new URL("outcome.lua", WING_LUA), "utf8");
  const [before, after] = wrapper.split("--- @body\n");
  if (after === undefined) throw new Error("src/redis/lua/outcome.lua has no --- @body line");
  return `${before}${body}\n${after}`;
}

/** Throws when a call passes other keys or arguments than the script's header names. */
export function checkCall(script: Script, keys: readonly string[], args: readonly string[]): void {
  const fits = (n: number, names: readonly string[], more: boolean) =>
    more ? n >= names.length - 1 : n === names.length;
  if (
    !fits(keys.length, script.keys, script.moreKeys) ||
    !fits(args.length, script.args, script.moreArgs)
  ) {
    throw new Error(
      `Redis script ${script.name} takes KEYS (${script.keys.join(", ")}) and ARGV (${script.args.join(", ")}); called with ${keys.length} keys and ${args.length} arguments`,
    );
  }
}

/** Runs a script that is not a fenced write: by its SHA1, the text only on NOSCRIPT. */
export async function runScript(
  redis: Redis,
  script: Script,
  keys: string[],
  args: string[],
): Promise<unknown> {
  if (script.fenced)
    throw new Error(`Redis script ${script.name} is fenced: run it with fencedEval`);
  checkCall(script, keys, args);
  const options = { keys, arguments: args };
  return evalBySha(redis, script, options);
}

/**
 * EVALSHA, and on NOSCRIPT (a Redis that restarted, failed over, or had SCRIPT FLUSH; it ran
 * nothing) the script itself, once.
 */
export function evalBySha(
  redis: Redis,
  script: Script,
  options: { keys: string[]; arguments: string[] },
): Promise<unknown> {
  return redis.evalSha(script.sha, options).catch((err: unknown) => {
    if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
      return redis.eval(script.text, options);
    }
    throw err;
  });
}

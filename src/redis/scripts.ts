// Redis scripts as files. Each script is a `.lua` file that opens with a header naming its
// keys and arguments:
//
//   --[[
//     What the script does, and what it returns.
//     KEYS[1] members_key   the room's members (hash)
//     ARGV[1] user_id       who joins
//     ARGV[2...] admin_ids  any number more (a variadic tail: KEYS or ARGV)
//   ]]
//   --- @include "fence"
//   local members_key = KEYS[1]
//   local user_id = ARGV[1]
//   local admin_ids = { unpack(ARGV, 2) }
//
// The loader checks that every name in the header is bound to its position by exactly such a
// line, and that the rest of the script uses names, never a numbered KEYS[n] or ARGV[n] (a
// loop over a variadic tail may index KEYS or ARGV by a variable). `--- @include "name"`
// pastes in a shared part once, found beside the script in `includes/`, else in this wing's
// `lua/` (`fence`, `clock`). A script that includes the fence is a fenced write and runs only
// through fencedEval (fence.ts); any other runs through runScript. Both send the script's
// SHA1 (EVALSHA), and the script itself only to a Redis that does not know it yet.
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

  const included = new Set<string>();
  const compose = (text: string, from: URL): string =>
    text
      .split("\n")
      .map((line) => {
        const inc = INCLUDE_LINE.exec(line);
        if (!inc) return line;
        const part = inc[1] as string;
        if (included.has(part)) return `-- (${part}: included above)`;
        included.add(part);
        const own = new URL(`includes/${part}.lua`, from);
        let body: string;
        try {
          body = readFileSync(own, "utf8");
        } catch {
          try {
            body = readFileSync(new URL(`${part}.lua`, WING_LUA), "utf8");
          } catch {
            return fail(
              `no include "${part}" (looked in includes/ beside it and in src/redis/lua/)`,
            );
          }
        }
        return compose(body.replace(/\n$/, ""), own);
      })
      .join("\n");
  const body = compose(source.slice((header as RegExpExecArray)[0].length), file);

  // Every name bound to its position, and no numbered KEYS[n] / ARGV[n] anywhere else.
  const code = body.replace(/--\[\[[\s\S]*?\]\]/g, "").replace(/--[^\n]*/g, "");
  for (const kind of ["KEYS", "ARGV"] as const) {
    declared[kind].forEach(({ name: bound, more }, i) => {
      const binding = more
        ? `local ${bound} = { unpack(${kind}, ${i + 1}) }`
        : `local ${bound} = ${kind}[${i + 1}]`;
      if (!code.split("\n").some((l) => l.trim() === binding)) {
        fail(`the header names ${kind}[${i + 1}] ${bound}, but there is no line "${binding}"`);
      }
    });
    const rest = code
      .split("\n")
      .filter(
        (l) =>
          !new RegExp(
            `^\\s*local \\w+ = (${kind}\\[\\d+\\]|\\{ unpack\\(${kind}, \\d+\\) \\})\\s*$`,
          ).test(l),
      )
      .join("\n");
    const numbered = new RegExp(`\\b${kind}\\[\\s*\\d+\\s*\\]`).exec(rest);
    if (numbered) fail(`${numbered[0]} used by number: bind it to a name in the header`);
    const variable = new RegExp(`\\b${kind}\\[`).test(rest) || new RegExp(`#${kind}\\b`).test(rest);
    if (variable && !declared[kind].at(-1)?.more) {
      fail(`${kind} is indexed by a variable, but the header declares no variadic ${kind}`);
    }
  }

  const fenced = included.has("fence");
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

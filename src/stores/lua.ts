// The stores' Redis scripts, one `.lua` file each in ./lua/ (loaded once, at start-up; see
// src/redis/scripts.ts for the header every script opens with and how it is run).
import { loadScript, type Script } from "../redis/scripts.js";

/** The script in `./lua/<name>.lua`. */
export function script(name: string): Script {
  return loadScript(new URL(`./lua/${name}.lua`, import.meta.url));
}

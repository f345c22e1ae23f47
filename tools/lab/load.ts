/**
 * Loading a student's lab file and checking that it exports what the lab asks
 * for, with one clear error line if not.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";

/** A loaded module: its exports by name. */
export type Exports = Record<string, unknown>;

/**
 * Imports the TypeScript/JavaScript file at `path` (relative to the current
 * directory or absolute) and checks that it exports a function for each name
 * in `functions`.
 */
export async function loadImpl(path: string, functions: readonly string[]): Promise<Exports> {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  try {
    Deno.statSync(absolute);
  } catch (e) {
    // The checkers' worker may not look (no permissions): the runner looked before.
    if (!(e instanceof Deno.errors.NotCapable)) {
      throw new IxyError(`Cannot find your lab file ${path}. Pass an existing file to --impl.`);
    }
  }
  let mod: Exports;
  try {
    mod = await import(new URL(`file://${absolute}`).href);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new IxyError(`Cannot load ${path}: ${why}. Does it run on its own (deno check)?`);
  }
  const missing = functions.filter((name) => typeof mod[name] !== "function");
  if (missing.length > 0) {
    throw new IxyError(
      `${path} does not export ${missing.map((m) => `function ${m}`).join(", ")}. ` +
        `See the lab's "What you write" section for the signatures.`,
    );
  }
  return mod;
}

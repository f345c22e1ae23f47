/**
 * Helpers shared by the lab-VM tests: run a guest script, read its
 * `NAME=value` lines.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runInVm, type VmOptions } from "../../tools/vm/mod.ts";

/**
 * Boots the lab VM with `options`, runs `script` and returns its output;
 * fails the test (showing the output) on a non-zero exit.
 */
export async function guest(script: string, options: VmOptions = {}): Promise<string> {
  const result = await runInVm(script, { nics: 2, timeoutSeconds: 600, ...options });
  assert.equal(result.code, 0, `guest script failed (exit ${result.code}):\n${result.output}`);
  return result.output;
}

/** The value of the `name=value` line in `output`; fails the test if absent. */
export function field(output: string, name: string): string {
  const m = new RegExp(`^${name}=(.*)$`, "m").exec(output);
  assert.ok(m, `no ${name}= line in:\n${output}`);
  return m[1].trim();
}

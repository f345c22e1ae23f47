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

const numbers = (text: string): number[] => text.trim().split(/\s+/).map(Number);

/**
 * Checks what tests/vm/guest/forward.sh printed: ping worked, the TCP
 * transfer of `bytes` arrived with the same SHA-256, every counter of our two
 * ports equals the kernel's counter on the other end of its wire, and every
 * frame one port received either left on the other or was counted as dropped.
 * (Under emulation a TCP burst can find the TX ring full; fwd drops and counts
 * such frames, as ixy does, and TCP retransmits them.)
 */
export function checkForwardOutput(out: string, bytes: number): void {
  assert.equal(field(out, "PING_OK"), "1", "ping A -> B through our forwarder");
  const source = JSON.parse(field(out, "SOURCE_RESULT"));
  const sink = JSON.parse(field(out, "SINK_RESULT"));
  assert.equal(sink.bytes, bytes);
  assert.equal(sink.sha256, source.sha256, "TCP data arrived unchanged");
  const [aRx0, aTx0] = numbers(field(out, "A_BEFORE"));
  const [aRx1, aTx1] = numbers(field(out, "A_AFTER"));
  const [bRx0, bTx0] = numbers(field(out, "B_BEFORE"));
  const [bRx1, bTx1] = numbers(field(out, "B_AFTER"));
  const m = /rx (\d+) tx (\d+); \S+ rx (\d+) tx (\d+); dropped (\d+) \+ (\d+)/.exec(
    field(out, "FWD_FINAL"),
  );
  assert.ok(m, out);
  const [xRx, xTx, yRx, yTx, dropXY, dropYX] = m.slice(1).map(Number);
  assert.equal(xRx, aTx1 - aTx0, "X received what A sent");
  assert.equal(xTx, aRx1 - aRx0, "A received what X sent");
  assert.equal(yTx, bRx1 - bRx0, "B received what Y sent");
  assert.equal(yRx, bTx1 - bTx0, "Y received what B sent");
  assert.equal(yTx + dropXY, xRx, "what X received left on Y or was counted as dropped");
  assert.equal(xTx + dropYX, yRx, "what Y received left on X or was counted as dropped");
  // A TCP transfer needs at least one full-size frame per 1448 bytes.
  assert.ok(xRx > bytes / 1448, `a ${bytes}-byte transfer needs more than ${xRx} frames`);
}

// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 5 skeleton: copy to tools/lab/mine/lab5_stats.ts, fill in the TODOs,
 * then `deno task lab 5 --impl tools/lab/mine/lab5_stats.ts`. See
 * docs/labs/lab5_stats.md.
 *
 * @module
 */

import type { RegisterSpace } from "../../../src/mmio.ts";
import type { DeviceStats } from "../../../src/stats.ts";

/** Adds the counters since the last call (82599 8.2.3.23; they clear on read). */
export function readStats(regs: RegisterSpace, stats: DeviceStats): void {
  // TODO: GPRC (minus MPC: erratum), GPTC, GORCL/H, GOTCL/H (minus 4 CRC bytes per frame),
  // MPC[0..7] + QPRDC[0..15].
}

/** Unicast and multicast promiscuous mode: FCTRL.UPE and FCTRL.MPE (82599 8.2.3.7.1). */
export function setPromisc(regs: RegisterSpace, enabled: boolean): void {
  // TODO: read-modify-write; leave the other bits (BAM!) alone.
}

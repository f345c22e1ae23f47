// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 6 skeleton: copy to tools/lab/mine/lab6_loop.ts, fill in the TODOs,
 * then `deno task lab 6 --impl tools/lab/mine/lab6_loop.ts`. See
 * docs/labs/lab6_perf.md.
 *
 * @module
 */

import type { IxyDevice } from "../../../src/device.ts";
import type { Mempool, PktBuf } from "../../../src/mempool.ts";

/** Sends frames from `pool` in batches of `options.batch` for `options.durationMs`. */
export function txLoop(
  dev: IxyDevice,
  pool: Mempool,
  options: { batch: number; durationMs: number },
): number {
  // TODO: allocate the bufs array once; loop: allocBatch, txBatch, free what was not taken;
  //       count what txBatch took; look at the clock only every few batches.
  return 0;
}

/**
 * Lab 6, reference solution: the send loop of tools/pktgen.ts without the
 * sequence numbers — allocate a batch, send it, return what was not taken.
 *
 * @module
 */

import type { IxyDevice } from "../../../src/device.ts";
import type { Mempool, PktBuf } from "../../../src/mempool.ts";

/** Sends in batches of `batch` for `durationMs`; returns the frames txBatch took. */
export function txLoop(
  dev: IxyDevice,
  pool: Mempool,
  options: { batch: number; durationMs: number },
): number {
  const { batch } = options;
  const bufs: PktBuf[] = new Array(batch); // allocated once, reused for every batch
  const end = performance.now() + options.durationMs;
  let sent = 0;
  for (let i = 0;; i++) {
    const n = pool.allocBatch(bufs, batch);
    const taken = dev.txBatch(0, bufs, n);
    for (let k = taken; k < n; k++) pool.free(bufs[k]);
    sent += taken;
    // Reading the clock costs time too: look at it every 64 batches.
    if ((i & 63) === 0 && performance.now() >= end) return sent;
  }
}

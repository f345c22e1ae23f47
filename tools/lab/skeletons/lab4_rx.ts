// deno-lint-ignore-file no-unused-vars prefer-const -- a skeleton: the TODOs use them.
/**
 * Lab 4 skeleton: copy to tools/lab/mine/lab4_rx.ts, fill in the TODOs, then
 * `deno task lab 4 --impl tools/lab/mine/lab4_rx.ts`. See docs/labs/lab4_rx.md.
 *
 * @module
 */

import type { PktBuf } from "../../../src/mempool.ts";
import { IXGBE_ADV_RX_DESC as RXD, IXGBE_RXDADV_STAT } from "../../../drivers/ixgbe/constants.ts";
import type { RxRing } from "../contract.ts";

/** Points descriptor `d` at `buf` (read format, 82599 7.1.6.1) and remembers it. */
function post(q: RxRing, d: number, buf: PktBuf): void {
  // TODO 1: words 0/1 = buf.dataPhysAddr (low, high 32 bits), words 2/3 = 0 (this clears DD);
  //         q.bufs[d] = buf.
}

/** Receives up to `count` frames into bufs[0..n); returns n. */
export function rxBatch(q: RxRing, bufs: PktBuf[], count: number): number {
  const mask = q.size - 1;
  let n = 0;
  while (n < count) {
    const w = q.index * 4;
    // TODO 2: read the status word (RXD.WB_STATUS_ERROR) with Atomics.load; stop without DD.
    // TODO 3: take a fresh buffer from q.pool (stop if there is none), keep the old one
    //         (q.bufs[q.index]) and the length (RXD.WB_LENGTH, bits 15:0), post the fresh one.
    // TODO 4: drop (free) the old buffer unless EOP is set, the error bits (q.errorBits: RXE)
    //         are clear and 1 <= length <= buf.data.length;
    //         otherwise set buf.size = length and hand it out: bufs[n++] = buf.
    break; // remove when done
  }
  // TODO 5: if you refilled any descriptor, write RDT once (q.regs.write32(q.tail, ...)):
  //         the last descriptor refilled.
  return n;
}

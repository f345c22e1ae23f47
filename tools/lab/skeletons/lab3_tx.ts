// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 3 skeleton: copy to tools/lab/mine/lab3_tx.ts, fill in the TODOs, then
 * `deno task lab 3 --impl tools/lab/mine/lab3_tx.ts`. See docs/labs/lab3_tx.md.
 *
 * @module
 */

import type { PktBuf } from "../../../src/mempool.ts";
import { IXGBE_ADV_TX_DESC as TXD, IXGBE_ADVTXD } from "../../../drivers/ixgbe/constants.ts";
import type { TxRing } from "../contract.ts";

/** Frees the buffers of descriptors the device has sent (DD set), from q.cleanIndex on. */
function cleanTx(q: TxRing): void {
  // TODO 1: while q.cleanIndex !== q.txIndex and the descriptor at q.cleanIndex has DD
  //         (word TXD.WB_STATUS, bit IXGBE_ADVTXD.STAT_DD; read it with Atomics.load):
  //         free q.bufs[q.cleanIndex] (buf.pool.free(buf)), forget it, advance q.cleanIndex.
}

/** Sends bufs[0..count); returns how many were taken. */
export function txBatch(q: TxRing, bufs: PktBuf[], count: number): number {
  cleanTx(q);
  const mask = q.size - 1;
  let n = 0;
  while (n < count) {
    // TODO 2: stop if the ring is full: the next index would be q.cleanIndex.
    const buf = bufs[n];
    // TODO 2b: stop before a buffer whose buf.size is not 1..buf.data.length: write nothing
    //          of it (the caller keeps it and the ones after it).
    // TODO 3: write the advanced data descriptor at q.desc[q.txIndex * 4 ...] (82599 7.2.3.2.4):
    //   word 0/1: buf.dataPhysAddr, low and high 32 bits
    //   word 2:   EOP | RS | IFCS | DEXT | DTYP_DATA | buf.size   (IXGBE_ADVTXD)
    //   word 3:   buf.size << IXGBE_ADVTXD.PAYLEN_SHIFT
    q.bufs[q.txIndex] = buf;
    q.txIndex = (q.txIndex + 1) & mask;
    n++;
  }
  // TODO 4: if anything was queued, ring the doorbell once: write q.txIndex to TDT
  //         (q.regs.write32(q.tail, ...): q.tail is where this queue's TDT is).
  return n;
}

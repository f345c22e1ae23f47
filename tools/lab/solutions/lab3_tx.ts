/**
 * Lab 3, reference solution: `txBatch` over an 82599 transmit ring — the
 * code of `IxgbeDevice.txBatch` and `#cleanTx` (drivers/ixgbe/ixgbe.ts) on the
 * lab's {@link TxRing}. The checker uses this file when no --impl is given.
 *
 * @module
 */

import type { PktBuf } from "../../../src/mempool.ts";
import {
  IXGBE_ADV_TX_DESC as TXD,
  IXGBE_ADVTXD,
  IXGBE_TDT,
} from "../../../drivers/ixgbe/constants.ts";
import type { TxRing } from "../contract.ts";

/** Descriptors are cleaned in batches of this many (ixy's TX_CLEAN_BATCH). */
const CLEAN_BATCH = 32;
const TWO_TO_32 = 0x1_0000_0000;

/**
 * Frees the buffers of sent descriptors, a batch at a time: if the last
 * descriptor of a batch has DD, the device is done with all of it (7.2.3.3).
 */
function cleanTx(q: TxRing): void {
  const mask = q.size - 1;
  const batch = Math.min(CLEAN_BATCH, q.size >> 1);
  for (;;) {
    const cleanable = (q.txIndex - q.cleanIndex) & mask;
    if (cleanable < batch) return;
    const lastOfBatch = (q.cleanIndex + batch - 1) & mask;
    const status = Atomics.load(q.desc, lastOfBatch * 4 + TXD.WB_STATUS);
    if ((status & IXGBE_ADVTXD.STAT_DD) === 0) return;
    for (let i = q.cleanIndex;; i = (i + 1) & mask) {
      const buf = q.bufs[i]!;
      q.bufs[i] = undefined;
      buf.pool.free(buf);
      if (i === lastOfBatch) break;
    }
    q.cleanIndex = (lastOfBatch + 1) & mask;
  }
}

/**
 * Sends `bufs[0..count)`: cleans, writes one advanced data descriptor per
 * packet (7.2.3.2.4), moves the tail once (TDT, 8.2.3.9.9).
 */
export function txBatch(q: TxRing, bufs: PktBuf[], count: number): number {
  cleanTx(q);
  const mask = q.size - 1;
  let n = 0;
  while (n < count) {
    const next = (q.txIndex + 1) & mask;
    if (next === q.cleanIndex) break; // full: TDT may never reach TDH
    const buf = bufs[n];
    const w = q.txIndex * 4;
    const phys = buf.dataPhysAddr;
    q.desc[w + TXD.BUFFER_ADDR_LO] = phys % TWO_TO_32;
    q.desc[w + TXD.BUFFER_ADDR_HI] = Math.floor(phys / TWO_TO_32);
    q.desc[w + TXD.CMD_TYPE_LEN] = IXGBE_ADVTXD.DCMD_EOP | IXGBE_ADVTXD.DCMD_RS |
      IXGBE_ADVTXD.DCMD_IFCS | IXGBE_ADVTXD.DCMD_DEXT | IXGBE_ADVTXD.DTYP_DATA | buf.size;
    q.desc[w + TXD.OLINFO_STATUS] = buf.size << IXGBE_ADVTXD.PAYLEN_SHIFT;
    q.bufs[q.txIndex] = buf;
    q.txIndex = next;
    n++;
  }
  if (n > 0) q.regs.write32(IXGBE_TDT(q.queueId), q.txIndex);
  return n;
}

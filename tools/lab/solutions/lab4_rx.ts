/**
 * Lab 4, reference solution: `rxBatch` over an 82599 receive ring — the code
 * of `IxgbeDevice.rxBatch` and `RxQueue.post` (drivers/ixgbe/ixgbe.ts) on the
 * lab's {@link RxRing}. The checker uses this file when no --impl is given.
 *
 * @module
 */

import type { PktBuf } from "../../../src/mempool.ts";
import {
  IXGBE_ADV_RX_DESC as RXD,
  IXGBE_RDT,
  IXGBE_RXDADV_STAT,
} from "../../../drivers/ixgbe/constants.ts";
import type { RxRing } from "../contract.ts";

const TWO_TO_32 = 0x1_0000_0000;

/** Points descriptor `d` at `buf` (read format, 7.1.6.1); zeroing word 2 clears DD. */
function post(q: RxRing, d: number, buf: PktBuf): void {
  const w = d * 4;
  const phys = buf.dataPhysAddr;
  q.desc[w + RXD.PKT_ADDR_LO] = phys % TWO_TO_32;
  q.desc[w + RXD.PKT_ADDR_HI] = Math.floor(phys / TWO_TO_32);
  q.desc[w + RXD.HDR_ADDR_LO] = 0;
  q.desc[w + RXD.HDR_ADDR_HI] = 0;
  q.bufs[d] = buf;
}

/**
 * Takes every written-back descriptor (DD) from `q.index` on, up to `count`:
 * hands its buffer out (or drops a bad write-back), posts a fresh buffer, and
 * finally writes RDT = the last descriptor refilled (7.1.9).
 */
export function rxBatch(q: RxRing, bufs: PktBuf[], count: number): number {
  const mask = q.size - 1;
  let index = q.index;
  let last = -1;
  let n = 0;
  while (n < count) {
    const w = index * 4;
    const status = Atomics.load(q.desc, w + RXD.WB_STATUS_ERROR);
    if ((status & IXGBE_RXDADV_STAT.DD) === 0) break;
    const fresh = q.pool.alloc();
    if (fresh === undefined) break; // the app holds every buffer: try again later
    const buf = q.bufs[index]!;
    const length = q.desc[w + RXD.WB_LENGTH] & 0xffff;
    post(q, index, fresh);
    last = index;
    index = (index + 1) & mask;
    const eop = (status & IXGBE_RXDADV_STAT.EOP) !== 0;
    if (!eop || length === 0 || length > buf.data.length) {
      q.pool.free(buf); // a write-back we cannot use: drop it
      continue;
    }
    buf.size = length;
    bufs[n++] = buf;
  }
  if (last >= 0) {
    q.regs.write32(IXGBE_RDT(q.queueId), last);
    q.index = index;
  }
  return n;
}

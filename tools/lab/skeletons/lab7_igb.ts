// deno-lint-ignore-file no-unused-vars prefer-const -- a skeleton: the TODOs use them.
/**
 * Lab 7 skeleton: the receive path of drivers/ixgbe (rx.ts, and the queue
 * setup in ixgbe.ts's #initRx / #startRxQueue) ported to the Intel 82576.
 * Copy to tools/lab/mine/lab7_igb.ts, fill in the TODOs with the 82599 and
 * 82576 datasheets side by side, then
 * `deno task lab 7 --impl tools/lab/mine/lab7_igb.ts` (boots the lab VM with
 * QEMU's igb; QEMU 8.0 or newer). See docs/labs/lab7_igb.md.
 *
 * The register and bit names are in drivers/igb/constants.ts — named as in
 * the 82576 datasheet, laid out like drivers/ixgbe/constants.ts.
 *
 * @module
 */

import type { PktBuf } from "../../../src/mempool.ts";
import { setFlags32, waitForFlags32 } from "../../../src/mmio.ts";
import { hi32, lo32 } from "../../../src/memory.ts";
import {
  IGB_ADV_RX_DESC as RXD,
  IGB_DESC_SIZE,
  IGB_RDBAH,
  IGB_RDBAL,
  IGB_RDH,
  IGB_RDLEN,
  IGB_RDT,
  IGB_RXDADV_STAT,
  IGB_RXDCTL,
  IGB_RXDCTL_ENABLE,
  IGB_SRRCTL,
  IGB_SRRCTL_BITS,
} from "../../../drivers/igb/constants.ts";
import type { RxRing } from "../contract.ts";

/**
 * Programs queue q.queueId for the ring at `ringPhysAddr` and leaves it
 * disabled (82576 4.5.9; the 82599's 4.6.7).
 */
export function configureRxQueue(q: RxRing, ringPhysAddr: number): void {
  const regs = q.regs;
  const i = q.queueId;
  // TODO 1: clear RXDCTL.ENABLE of queue i and wait until it reads 0
  //         (waitForFlags32(regs, IGB_RXDCTL(i), IGB_RXDCTL_ENABLE, false, { what: "..." })).
  //         Why is this needed on the 82576 and not in ixgbe.ts? (Queue 0 after reset.)
  // TODO 2: SRRCTL(i): keep its other bits, set DESCTYPE = advanced one buffer,
  //         BSIZEPACKET = 2 (2 KB, bits 6:0 here) and DROP_EN (which bit on the 82576?).
  // TODO 3: RDBAL/RDBAH = ringPhysAddr (lo32/hi32), RDLEN = q.size * IGB_DESC_SIZE (bytes).
  // TODO 4: RDH = RDT = 0: an empty ring.
}

/** Posts a buffer in every descriptor, enables the queue, hands over size - 1 descriptors. */
export function startRxQueue(q: RxRing): void {
  // TODO 5: for every descriptor d: a buffer from q.pool (throw if there is none), post(q, d, buf).
  // TODO 6: set RXDCTL.ENABLE and wait until it reads 1 — only then write the tail.
  // TODO 7: RDT = q.size - 1.
}

/** Points descriptor `d` at `buf` (read format, 82576 7.1.5) and remembers it. */
function post(q: RxRing, d: number, buf: PktBuf): void {
  // TODO 8: as in drivers/ixgbe/rx.ts: words 0/1 = buf.dataPhysAddr, words 2/3 = 0; q.bufs[d] = buf.
}

/** Receives up to `count` frames into bufs[0..n); returns n. */
export function rxBatch(q: RxRing, bufs: PktBuf[], count: number): number {
  let n = 0;
  // TODO 9: port drivers/ixgbe/rx.ts's rxBatch. Which lines change? (Compare the write-back
  //         format of 82599 7.1.6.2 with 82576 7.1.5, and RDT's offset.)
  return n;
}

// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 7 skeleton: what the 82576 does differently from the 82599 on the
 * receive side. The packet loop is not yours to port: the igb driver runs
 * drivers/ixgbe/rx.ts's `rxBatch` as it is, because the 82576 reads and
 * writes the 82599's advanced descriptor. What differs is the queue's
 * register map, two state fields of the ring, and the bring-up (ixgbe.ts's
 * #initRx per queue and #startRxQueue). Copy to tools/lab/mine/lab7_igb.ts,
 * fill in the TODOs with the 82599 and 82576 datasheets side by side, then
 * `deno task lab 7 --impl tools/lab/mine/lab7_igb.ts` (boots the lab VM with
 * QEMU's igb; QEMU 8.0 or newer). See docs/labs/lab7_igb.md.
 *
 * The register and bit names are in drivers/igb/constants.ts — named as in
 * the 82576 datasheet, laid out like drivers/ixgbe/constants.ts.
 *
 * @module
 */

import type { RegisterSpace } from "../../../src/mmio.ts";
import { setFlags32, waitForFlags32 } from "../../../src/mmio.ts";
import { hi32, lo32 } from "../../../src/memory.ts";
import type { Mempool } from "../../../src/mempool.ts";
import { post, RxQueue } from "../../../drivers/ixgbe/rx.ts";
import {
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

/** The ring of queue `queueId`: drivers/ixgbe/rx.ts's RxQueue with the 82576's state. */
export function newRxQueue(
  regs: RegisterSpace,
  queueId: number,
  desc: Uint32Array,
  size: number,
  pool: Mempool,
): RxRing {
  // TODO 1: new RxQueue(regs, queueId, desc, size, pool, tail, errorBits) with
  //         tail      = the offset of this queue's RDT on the 82576 (not IXGBE_RDT), and
  //         errorBits = the 82576's RXE bit in the write-back's status/error word
  //                     (82576 7.1.5.2; compare 82599 7.1.6.2: is it the same bit?).
  throw new Error("TODO 1");
}

/**
 * Programs queue q.queueId for the ring at `ringPhysAddr` and leaves it
 * disabled (82576 4.5.9; the 82599's 4.6.7).
 */
export function configureRxQueue(q: RxRing, ringPhysAddr: number): void {
  const regs = q.regs;
  const i = q.queueId;
  // TODO 2: clear RXDCTL.ENABLE of queue i and wait until it reads 0
  //         (waitForFlags32(regs, IGB_RXDCTL(i), IGB_RXDCTL_ENABLE, false, { what: "..." })).
  //         Why is this needed on the 82576 and not in ixgbe.ts? (Queue 0 after reset.)
  // TODO 3: SRRCTL(i): keep its other bits, set DESCTYPE = advanced one buffer,
  //         BSIZEPACKET = 2 (2 KB, bits 6:0 here) and DROP_EN (which bit on the 82576?).
  // TODO 4: RDBAL/RDBAH = ringPhysAddr (lo32/hi32), RDLEN = q.size * IGB_DESC_SIZE (bytes).
  // TODO 5: RDH = RDT = 0: an empty ring.
}

/** Posts a buffer in every descriptor, enables the queue, hands over size - 1 descriptors. */
export function startRxQueue(q: RxRing): void {
  // TODO 6: for every descriptor d: a buffer from q.pool (throw if there is none), then
  //         post(q, d, buf) — drivers/ixgbe/rx.ts's: the read format is the same (82576 7.1.5).
  // TODO 7: set RXDCTL.ENABLE and wait until it reads 1 — only then write the tail.
  // TODO 8: RDT = q.size - 1.
}

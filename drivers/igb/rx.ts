/**
 * The 82576's receive queue bring-up: what `IgbDevice` does to set up and
 * start a receive queue, and the reference solution of lab 7 ("From the
 * 82599 to the 82576") — the checker (`deno task lab 7`) runs this very
 * file, so a student's bring-up plugs into the same place.
 *
 * The ring itself is drivers/ixgbe/rx.ts's: the 82576 reads and writes the
 * 82599's 16-byte advanced receive descriptor (82576 datasheet 7.1.5; the
 * 82599's 7.1.6), so `RxQueue`, `post` and `rxBatch` serve both, with this
 * chip's tail register (RDT, 0xC018 + 0x40 n) and error bit (RXE, bit 31 of
 * the status/error word, 7.1.5.2) as the ring's state ({@link newRxQueue}).
 * What differs is here: where the queue's registers are (0xC000 + 0x40 n,
 * where the 82599 has 0x1000 + 0x40 n, SRRCTL among them), SRRCTL's fields,
 * and a queue that must be switched off and polled before its ring changes.
 * docs/labs/lab7_igb.md has the table.
 *
 * @module
 */

import { setFlags32, waitForFlags32 } from "../../src/mmio.ts";
import { hi32, lo32 } from "../../src/memory.ts";
import type { RegisterSpace } from "../../src/mmio.ts";
import type { Mempool } from "../../src/mempool.ts";
import { IxyError } from "../../src/error.ts";
import { post, RxQueue, type RxRing } from "../ixgbe/rx.ts";
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
} from "./constants.ts";

/**
 * Receive queue `queueId` of an 82576 over `desc` (`size` descriptors),
 * buffers from `pool`: drivers/ixgbe/rx.ts's {@link RxQueue} with the 82576's
 * tail register RDT(n) and its RXE bit (bit 31 of the write-back's
 * status/error word, 82576 datasheet 7.1.5.2 extended errors; Linux igb's
 * E1000_RXDEXT_STATERR_RXE, 0x80000000). The 82599's RXE bit 29 is the
 * 82576's TCPE, a TCP/UDP checksum error that only checksum offload sets
 * and that is no reason to drop a frame.
 */
export function newRxQueue(
  regs: RegisterSpace,
  queueId: number,
  desc: Uint32Array,
  size: number,
  pool: Mempool,
): RxQueue {
  return new RxQueue(regs, queueId, desc, size, pool, IGB_RDT(queueId), IGB_RXDADV_STAT.RXE);
}

/** SRRCTL.BSIZEPACKET for our 2 KB buffers (1 KB units); frames stay <= 1522 bytes (RCTL.LPE off). */
export const SRRCTL_BSIZEPACKET_2KB = 2;

/**
 * Programs receive queue `q.queueId` for a ring of `q.size` descriptors at
 * device address `ringPhysAddr` and leaves it disabled (4.5.9 "Receive
 * Initialization", per queue):
 *
 * 1. switch the queue off (RXDCTL.ENABLE = 0) and wait until it reads 0 —
 *    unlike the 82599's, the 82576's queue 0 comes out of reset enabled, and
 *    its ring may only change while it is off;
 * 2. SRRCTL: advanced descriptors, one buffer per frame, 2 KB buffers,
 *    DROP_EN (a frame that finds no free descriptor is dropped and counted
 *    in RQDPC, instead of stalling the packet buffer shared by all queues);
 * 3. the ring: RDBAL/RDBAH (base), RDLEN (length in bytes);
 * 4. an empty ring: RDH = RDT = 0.
 */
export function configureRxQueue(q: RxRing, ringPhysAddr: number): void {
  const regs = q.regs;
  const i = q.queueId;
  regs.write32(IGB_RXDCTL(i), regs.read32(IGB_RXDCTL(i)) & ~IGB_RXDCTL_ENABLE);
  waitForFlags32(regs, IGB_RXDCTL(i), IGB_RXDCTL_ENABLE, false, {
    what: `RX queue ${i} disable (RXDCTL.ENABLE)`,
  });
  const S = IGB_SRRCTL_BITS;
  const srrctl = regs.read32(IGB_SRRCTL(i)) & ~S.DESCTYPE_MASK & ~S.BSIZEPKT_MASK;
  regs.write32(
    IGB_SRRCTL(i),
    (srrctl | S.DESCTYPE_ADV_ONEBUF | SRRCTL_BSIZEPACKET_2KB | S.DROP_EN) >>> 0,
  );
  regs.write32(IGB_RDBAL(i), lo32(ringPhysAddr));
  regs.write32(IGB_RDBAH(i), hi32(ringPhysAddr));
  regs.write32(IGB_RDLEN(i), q.size * IGB_DESC_SIZE);
  regs.write32(IGB_RDH(i), 0);
  regs.write32(IGB_RDT(i), 0);
}

/**
 * Starts a queue that {@link configureRxQueue} set up (4.5.9, last steps):
 * a buffer of `q.pool` in every descriptor, RXDCTL.ENABLE, wait until it
 * reads 1, then all descriptors but one to the device: RDT = size - 1
 * (RDH = RDT would mean "no descriptor for the device"). RDT is written only
 * once the queue runs: a tail written to a disabled queue may be lost.
 */
export function startRxQueue(q: RxRing): void {
  for (let d = 0; d < q.size; d++) {
    const buf = q.pool.alloc();
    if (buf === undefined) {
      throw new IxyError(
        `RX queue ${q.queueId}: its mempool has fewer than ${q.size} buffers; ` +
          `give it at least one per descriptor.`,
      );
    }
    post(q, d, buf);
  }
  setFlags32(q.regs, IGB_RXDCTL(q.queueId), IGB_RXDCTL_ENABLE);
  waitForFlags32(q.regs, IGB_RXDCTL(q.queueId), IGB_RXDCTL_ENABLE, true, {
    what: `RX queue ${q.queueId} enable (RXDCTL.ENABLE)`,
  });
  q.regs.write32(IGB_RDT(q.queueId), q.size - 1);
}

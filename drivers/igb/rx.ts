/**
 * The 82576 receive ring: the code `IgbDevice` runs to set up, start and
 * poll a receive queue, and the reference solution of lab 7 ("From the
 * 82599 to the 82576") — the checker (`deno task lab 7`) runs this very
 * file, so a student's port plugs into the same place.
 *
 * It is drivers/ixgbe/rx.ts ported to the 82576, function by function, and
 * written against the same lab contract: the ring state is the 82599's
 * {@link RxRing}, unchanged, because the ring is the same — 16-byte
 * advanced receive descriptors, read format with the buffer address in
 * words 0-1, write-back with status (DD, EOP) in word 2 and the length in
 * word 3 (82576 datasheet 7.1.5; the 82599's 7.1.6). What moved is where the
 * queue's registers are (0xC000 + 0x40 n, where the 82599 has 0x1000 +
 * 0x40 n) and two SRRCTL fields; see docs/labs/lab7_igb.md for the table.
 *
 * The device writes a frame into the buffer of the descriptor at RDH and
 * writes the descriptor back; it may use descriptors up to RDT - 1. We take
 * each written-back descriptor, give it a fresh buffer at once, and return
 * them all to the device with one RDT write per batch.
 *
 * @module
 */

import { setFlags32, waitForFlags32 } from "../../src/mmio.ts";
import { hi32, lo32 } from "../../src/memory.ts";
import type { PktBuf } from "../../src/mempool.ts";
import { IxyError } from "../../src/error.ts";
import { RxQueue, type RxRing } from "../ixgbe/rx.ts";
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
} from "./constants.ts";

// The ring state and the driver's queue are the 82599's: same contract
// (tools/lab/contract.ts), same fields, only the registers behind them differ.
export { RxQueue, type RxRing };

/** The status bits that decide whether a frame is delivered: EOP must be set, RXE clear. */
const RX_DROP_STATUS = IGB_RXDADV_STAT.EOP | IGB_RXDADV_STAT.RXE;

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

/** Points descriptor `d` of `q` at `buf` (7.1.5 read format); this also clears DD. */
export function post(q: RxRing, d: number, buf: PktBuf): void {
  const w = d * 4;
  const phys = buf.dataPhysAddr;
  q.desc[w + RXD.PKT_ADDR_LO] = lo32(phys);
  q.desc[w + RXD.PKT_ADDR_HI] = hi32(phys);
  // Header address 0 (one-buffer mode); this word becomes the status on
  // write-back, so zeroing it clears DD.
  q.desc[w + RXD.HDR_ADDR_LO] = 0;
  q.desc[w + RXD.HDR_ADDR_HI] = 0;
  q.bufs[d] = buf;
}

/**
 * Receives up to `count` frames from `q` into `bufs[0..n)` and returns n;
 * each returned buffer has `size` set and belongs to the caller. Line for
 * line drivers/ixgbe/rx.ts's rxBatch: only the tail register (RDT) and the
 * position of RXE differ.
 *
 * Descriptors the device wrote back wrongly — a frame spread over several
 * descriptors (no EOP; we configured one buffer per frame), a frame error
 * (RXE), or a length of 0 or beyond the buffer — are dropped (counted in
 * `q.errors`); their buffers go back to the pool.
 */
export function rxBatch(q: RxRing, bufs: PktBuf[], count: number): number {
  const desc = q.desc;
  const mask = q.size - 1;
  let index = q.index;
  let last = -1;
  let n = 0;
  while (n < count) {
    const w = index * 4;
    // The device writes this word last (7.1.5); the length below is read
    // after it. A plain load, not `Atomics.load`: as volatile here and no
    // builtin call (drivers/ixgbe/rx.ts, rxBatch: why). Measured (igb fwd on
    // the instant device, AMD EPYC 2-vCPU guest, median): batch 32 −6.5 to
    // −7.9 ns per packet (−20 to −23 %), batch 1 −6 to −12 %
    // (docs/performance.md, "e1000 and igb as change 4").
    const status = desc[w + RXD.WB_STATUS_ERROR];
    if ((status & IGB_RXDADV_STAT.DD) === 0) break;
    const fresh = q.pool.alloc();
    if (fresh === undefined) break; // the app holds every buffer: retry next call
    const buf = q.bufs[index]!;
    const length = desc[w + RXD.WB_LENGTH] & 0xffff;
    post(q, index, fresh);
    last = index;
    index = (index + 1) & mask;
    const eop = (status & IGB_RXDADV_STAT.EOP) !== 0;
    // EOP set and RXE clear, in one AND and one compare as in ixgbe's
    // rx.ts; RXE is bit 31 here (7.1.5), bit 29 on the 82599.
    if (
      q.discarding || (status & RX_DROP_STATUS) !== IGB_RXDADV_STAT.EOP || length === 0 ||
      length > buf.data.length
    ) {
      // Drop: the tail of a multi-descriptor frame, its head, a frame error, or a bad length.
      if (!q.discarding) q.errors++;
      q.discarding = !eop;
      q.pool.free(buf);
      continue;
    }
    buf.size = length;
    bufs[n++] = buf;
  }
  if (last >= 0) {
    // The device may use descriptors up to RDT - 1; `last` is the last one
    // we refilled, so it stays ours until the next call.
    q.regs.write32(IGB_RDT(q.queueId), last);
    q.index = index;
  }
  return n;
}

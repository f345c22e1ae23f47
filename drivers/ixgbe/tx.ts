/**
 * The transmit ring of advanced descriptors: the code `IxgbeDevice.txBatch`
 * and `IgbDevice.txBatch` run, and the reference solution of lab 3 — the lab
 * checker (`deno task lab 3`) runs this very file, so a student's `txBatch`
 * plugs into the same place.
 *
 * The 82576 (drivers/igb) reads the same advanced transmit data descriptor
 * (82576 datasheet 7.2.2.3), bit for bit in everything we write (the table
 * before `IgbDevice` in drivers/igb/igb.ts; tests/unit/igb_constants_test.ts
 * compares the constants). Its tail register TDT is elsewhere, so the ring
 * holds the tail's offset as state (`tail`), set once when it is made.
 *
 * The device owns the descriptors from TDH to TDT - 1, we own the rest
 * (7.2.3.3). We write one advanced data descriptor per packet (7.2.3.2.4)
 * and move the tail (TDT, 8.2.3.9.9) once per batch; the device sets DD in
 * a descriptor when it is done with it (RS asks for that write-back), and
 * then the buffer is ours to free.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import type { PktBuf } from "../../src/mempool.ts";
import { IXGBE_ADV_TX_DESC, IXGBE_ADVTXD } from "./constants.ts";

// The descriptor's words and bits (7.2.3.2.4) as constants of this module:
// an immediate in the code where a property of an imported object is five
// steps on every use (rx.ts; what it bought: docs/performance.md, change 8).
const { BUFFER_ADDR_LO, BUFFER_ADDR_HI, CMD_TYPE_LEN, OLINFO_STATUS, WB_STATUS } =
  IXGBE_ADV_TX_DESC;
const { PAYLEN_SHIFT, STAT_DD } = IXGBE_ADVTXD;
/**
 * The command and type bits of every data descriptor we write: one buffer =
 * the whole frame, so EOP; RS for a DD write-back; IFCS so the device
 * appends the CRC; DEXT + DTYP_DATA = advanced data descriptor.
 */
const DATA_CMD_TYPE = IXGBE_ADVTXD.DCMD_EOP | IXGBE_ADVTXD.DCMD_RS | IXGBE_ADVTXD.DCMD_IFCS |
  IXGBE_ADVTXD.DCMD_DEXT | IXGBE_ADVTXD.DTYP_DATA;

/** TX descriptors are cleaned in batches of up to this many (ixy's TX_CLEAN_BATCH). */
export const TX_CLEAN_BATCH = 32;

/**
 * One transmit queue of advanced descriptors, enabled and empty at the start
 * (the lab 3 contract, tools/lab/contract.ts).
 */
export interface TxRing {
  /** BAR0 of the port: write the tail with `regs.write32(tail, ...)`. */
  readonly regs: RegisterSpace;
  /** The queue number. */
  readonly queueId: number;
  /**
   * Offset of this queue's tail register TDT in `regs`: `IXGBE_TDT(queueId)`
   * on an 82599 (8.2.3.9.9), `IGB_TDT(queueId)` on an 82576.
   */
  readonly tail: number;
  /** The descriptors, 4 words each: descriptor i is `desc[4 * i .. 4 * i + 3]`. */
  readonly desc: Uint32Array;
  /** Number of descriptors, a power of two. */
  readonly size: number;
  /** The buffer behind each descriptor in flight (you keep this up to date). */
  readonly bufs: (PktBuf | undefined)[];
  /** Next descriptor to fill; equals TDT after each batch. Starts at 0. */
  txIndex: number;
  /** Oldest descriptor whose buffer you have not freed yet. Starts at 0. */
  cleanIndex: number;
}

/** The driver's transmit queue: a {@link TxRing} over ring memory it allocated. */
export class TxQueue implements TxRing {
  readonly regs: RegisterSpace;
  readonly queueId: number;
  readonly tail: number;
  readonly desc: Uint32Array;
  readonly size: number;
  readonly bufs: (PktBuf | undefined)[];
  txIndex = 0;
  cleanIndex = 0;

  /**
   * A queue `queueId` over `desc` (`size` descriptors) whose tail register
   * is at `tail` in `regs` (82599: `IXGBE_TDT(queueId)`).
   */
  constructor(
    regs: RegisterSpace,
    queueId: number,
    desc: Uint32Array,
    size: number,
    tail: number,
  ) {
    this.regs = regs;
    this.queueId = queueId;
    this.tail = tail;
    this.desc = desc;
    this.size = size;
    this.bufs = new Array(size).fill(undefined);
  }
}

/**
 * Frees sent buffers, `batch` descriptors at a time: if the last descriptor
 * of a batch has DD, the device is done with the whole batch (it processes
 * descriptors in order, 7.2.3.3). `batch` 1 frees everything sent.
 */
export function cleanTx(q: TxRing, batch: number): void {
  const mask = q.size - 1;
  for (;;) {
    const cleanable = (q.txIndex - q.cleanIndex) & mask;
    if (cleanable < batch || cleanable === 0) return;
    const lastOfBatch = (q.cleanIndex + batch - 1) & mask;
    // The device writes DD back (7.2.3.5.1). A plain load, as in rxBatch
    // (rx.ts: why it is enough; docs/performance.md: what an Atomics.load costs).
    const status = q.desc[lastOfBatch * 4 + WB_STATUS];
    if ((status & STAT_DD) === 0) return;
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
 * True when the device has written DD back for the last descriptor queued
 * (or nothing is queued): it has finished every descriptor before it too
 * (7.2.3.3). With WTHRESH > 0 the last few may wait for a write-back until
 * TXDCTL.SWFLSH asks for it (7.2.3.5.1, 8.2.3.9.10).
 */
export function allSent(q: TxRing): boolean {
  if (q.cleanIndex === q.txIndex) return true;
  const last = (q.txIndex - 1) & (q.size - 1);
  // Volatile read: the device writes DD back (7.2.3.5.1).
  return (Atomics.load(q.desc, last * 4 + WB_STATUS) & STAT_DD) !== 0;
}

/**
 * Frees the buffer of every descriptor from `cleanIndex` up to `txIndex`,
 * sent or not, and empties the ring. Only for after a reset has stopped the
 * device's DMA (`IxgbeDevice.close`): then no descriptor is the device's.
 */
export function freeAll(q: TxRing): void {
  const mask = q.size - 1;
  for (let i = q.cleanIndex; i !== q.txIndex; i = (i + 1) & mask) {
    const buf = q.bufs[i]!;
    q.bufs[i] = undefined;
    buf.pool.free(buf);
  }
  q.cleanIndex = q.txIndex;
}

/**
 * Sends `bufs[0..count)` on `q`; returns n, how many it took: `bufs[0..n)`
 * (fewer when the ring is full, or up to the first buffer whose `size` is
 * not 1..`data.length`: nothing of it is written, the caller keeps it). Three
 * steps: free the buffers of descriptors the device has finished (checking
 * DD on the last of each batch of 32, as ixy), write one advanced data
 * descriptor per packet ({@link writeTxDescriptors}, 7.2.3.2.4), and move the
 * tail once (TDT, 8.2.3.9.9). Taken buffers are freed once sent.
 */
export function txBatch(q: TxRing, bufs: PktBuf[], count: number): number {
  cleanTx(q, Math.min(TX_CLEAN_BATCH, q.size >> 1));
  const n = writeTxDescriptors(q, bufs, count);
  // The descriptor writes reach memory before the device sees the new tail
  // (store→store: write32 is an Atomics.store, src/mmio.ts).
  if (n > 0) q.regs.write32(q.tail, q.txIndex);
  return n;
}

/**
 * Writes one advanced data descriptor per buffer of `bufs[0..count)` from
 * `q.txIndex` on and returns how many it wrote; stops at a full ring or at
 * the first buffer whose `size` is not 1..`data.length`. It does not move
 * the tail: {@link txBatch} writes TDT once for the batch.
 */
export function writeTxDescriptors(q: TxRing, bufs: PktBuf[], count: number): number {
  const desc = q.desc;
  const mask = q.size - 1;
  let n = 0;
  while (n < count) {
    const next = (q.txIndex + 1) & mask;
    if (next === q.cleanIndex) break; // full: TDT may never reach TDH
    const buf = bufs[n];
    const size = buf.size;
    // A size the device cannot send (0, or beyond the buffer — a length
    // field of garbage would make it read someone else's memory): stop
    // here, before this descriptor is written. bufs[n..count) stay the
    // caller's (src/device.ts, IxyDevice.txBatch). No exception: it would
    // leave descriptors written but not handed over with TDT, and the next
    // call would send them after the caller freed their buffers.
    if (size < 1 || size > buf.data.length) break;
    const w = q.txIndex * 4;
    desc[w + BUFFER_ADDR_LO] = buf.dataPhysLo; // split once per buffer (mempool.ts)
    desc[w + BUFFER_ADDR_HI] = buf.dataPhysHi;
    desc[w + CMD_TYPE_LEN] = DATA_CMD_TYPE | size;
    // PAYLEN: the whole frame (no segmentation offload).
    desc[w + OLINFO_STATUS] = size << PAYLEN_SHIFT;
    q.bufs[q.txIndex] = buf;
    q.txIndex = next;
    n++;
  }
  return n;
}

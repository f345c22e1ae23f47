/**
 * The 8254x transmit ring: the code `E1000Device.txBatch` runs. The same
 * shape as the 82599's (drivers/ixgbe/tx.ts): a ring object, `cleanTx`,
 * `writeTxDescriptors` and `txBatch`.
 *
 * The device owns the descriptors from TDH to TDT - 1, we own the rest
 * (8254x SDM 3.3.1). We write one legacy descriptor per packet (3.3.3) and
 * move the tail (TDT, 13.4.42) once per batch; the device sets DD in a
 * descriptor when it is done with it (RS asks for that write-back), and then
 * the buffer is ours to free.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import type { PktBuf } from "../../src/mempool.ts";
import { E1000_TDT, E1000_TX_DESC as TXD, E1000_TXD } from "./constants.ts";

/** TX descriptors are cleaned in batches of this many (ixy's TX_CLEAN_BATCH). */
export const TX_CLEAN_BATCH = 32;

/** The one transmit queue of an 8254x, empty at the start. */
export class TxQueue {
  /** BAR0: the tail is `E1000_TDT`. */
  readonly regs: RegisterSpace;
  /** The descriptors, 4 words each: descriptor i is `desc[4 * i .. 4 * i + 3]`. */
  readonly desc: Uint32Array;
  /** Number of descriptors, a power of two. */
  readonly size: number;
  /** How many descriptors {@link cleanTx} frees at a time in {@link txBatch}. */
  readonly cleanBatch: number;
  /** The buffer behind each descriptor in flight. */
  readonly bufs: (PktBuf | undefined)[];
  /** Next descriptor to fill; equals TDT after each batch. */
  txIndex = 0;
  /** Oldest descriptor not yet cleaned (its buffer not yet freed). */
  cleanIndex = 0;

  /** The queue over `desc` (`size` descriptors), tail in `regs`. */
  constructor(regs: RegisterSpace, desc: Uint32Array, size: number) {
    this.regs = regs;
    this.desc = desc;
    this.size = size;
    this.cleanBatch = Math.min(TX_CLEAN_BATCH, size >> 1);
    this.bufs = new Array(size).fill(undefined);
  }
}

/**
 * Frees sent buffers, `batch` descriptors at a time: if the last descriptor
 * of a batch has DD, the device is done with the whole batch (it processes
 * descriptors in order, 3.3.1). `batch` 1 frees everything sent.
 */
export function cleanTx(q: TxQueue, batch: number): void {
  const mask = q.size - 1;
  for (;;) {
    const cleanable = (q.txIndex - q.cleanIndex) & mask;
    if (cleanable < batch || cleanable === 0) return;
    const lastOfBatch = (q.cleanIndex + batch - 1) & mask;
    // The device writes DD back (3.3.3). A plain load, as in rx.ts's rxBatch.
    const status = q.desc[lastOfBatch * 4 + TXD.STA_CSS_SPECIAL];
    if ((status & E1000_TXD.STA_DD) === 0) return;
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
 * Frees the buffer of every descriptor from `cleanIndex` up to `txIndex`,
 * sent or not, and empties the ring. Only for after a reset has stopped the
 * device's DMA (`E1000Device.close`): then no descriptor is the device's.
 */
export function freeAll(q: TxQueue): void {
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
 * DD on the last of each batch of 32, as ixy), write one legacy descriptor
 * per packet ({@link writeTxDescriptors}, 3.3.3), and move the tail once
 * (TDT, 13.4.42). Taken buffers are freed once sent.
 */
export function txBatch(q: TxQueue, bufs: PktBuf[], count: number): number {
  cleanTx(q, q.cleanBatch);
  const n = writeTxDescriptors(q, bufs, count);
  // One doorbell per batch: the device fetches TDH..TDT-1. The descriptor
  // writes reach memory before it sees the new tail (store→store: write32
  // is an Atomics.store, src/mmio.ts).
  if (n > 0) q.regs.write32(E1000_TDT, q.txIndex);
  return n;
}

/**
 * Writes one legacy transmit descriptor (3.3.3) per buffer of
 * `bufs[0..count)` from `q.txIndex` on and returns how many it wrote; stops
 * at a full ring or at the first buffer whose `size` is not 1..`data.length`.
 * It does not move the tail: the caller writes TDT once for the batch.
 */
export function writeTxDescriptors(q: TxQueue, bufs: PktBuf[], count: number): number {
  const desc = q.desc;
  const mask = q.size - 1;
  let n = 0;
  while (n < count) {
    const next = (q.txIndex + 1) & mask;
    if (next === q.cleanIndex) break; // ring full: TDT may never reach TDH
    const buf = bufs[n];
    const size = buf.size;
    // A size the device cannot send: 0 (a zero-length descriptor transfers
    // no data, 3.3.3, Table 3-9 "Length"), or beyond the buffer (the 16-bit
    // length field allows up to 16288 bytes there, so the device would read
    // someone else's memory). Stop here, before this descriptor is written:
    // bufs[n..count) stay the caller's (src/device.ts, IxyDevice.txBatch).
    // No exception: it would leave the descriptors written so far without a
    // TDT write, and the next call would hand them to the device after the
    // caller freed their buffers.
    if (size < 1 || size > buf.data.length) break;
    const w = q.txIndex * 4;
    desc[w + TXD.BUFFER_ADDR_LO] = buf.dataPhysLo; // split once per buffer
    desc[w + TXD.BUFFER_ADDR_HI] = buf.dataPhysHi;
    // One buffer = the whole frame: EOP; RS for a DD write-back; IFCS so
    // the device appends the CRC; DEXT = 0: a legacy descriptor (3.3.3.1).
    // CSO = 0: no checksum offload.
    desc[w + TXD.LENGTH_CSO_CMD] = (E1000_TXD.CMD_EOP | E1000_TXD.CMD_RS | E1000_TXD.CMD_IFCS |
      size) >>> 0;
    // STA = 0 clears DD from the last round; CSS and special 0.
    desc[w + TXD.STA_CSS_SPECIAL] = 0;
    q.bufs[q.txIndex] = buf;
    q.txIndex = next;
    n++;
  }
  return n;
}

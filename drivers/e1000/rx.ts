/**
 * The 8254x receive ring: the code `E1000Device.rxBatch` runs. The same
 * shape as the 82599's (drivers/ixgbe/rx.ts): a ring object, `post` and
 * `rxBatch`.
 *
 * The device writes a frame into the buffer of the descriptor at RDH and
 * writes the descriptor back with length, DD and EOP (8254x SDM 3.2.3); it
 * may fill descriptors up to RDT - 1 (3.2.6). We take each written-back
 * descriptor, give it a fresh buffer at once, and return them all to the
 * device with one RDT write per batch. The e1000's "legacy" receive
 * descriptor has one layout for what we write and what the device writes
 * back (3.2.3), where the 82599's advanced one has two.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import type { Mempool, PktBuf } from "../../src/mempool.ts";
import { E1000_RDT, E1000_RX_DESC as RXD, E1000_RXD_STAT } from "./constants.ts";

/**
 * The one receive queue of an 8254x. At the start every descriptor points at
 * a buffer of `pool`, `bufs[i]` is that buffer, and RDT = size - 1: the
 * device may fill descriptors 0 .. size - 2.
 */
export class RxQueue {
  /** BAR0: the tail is `E1000_RDT`. */
  readonly regs: RegisterSpace;
  /** The descriptors, 4 words each: descriptor i is `desc[4 * i .. 4 * i + 3]`. */
  readonly desc: Uint32Array;
  /** Number of descriptors, a power of two. */
  readonly size: number;
  /** Where fresh receive buffers come from. */
  readonly pool: Mempool;
  /** The buffer behind each descriptor. */
  readonly bufs: (PktBuf | undefined)[];
  /** Next descriptor to look at. */
  index = 0;
  /** True while the rest of a frame spread over descriptors is skipped. */
  discarding = false;
  /** Frames dropped as malformed since the last readStats (see {@link rxBatch}). */
  errors = 0;

  /** The queue over `desc` (`size` descriptors), buffers from `pool`, tail in `regs`. */
  constructor(regs: RegisterSpace, desc: Uint32Array, size: number, pool: Mempool) {
    this.regs = regs;
    this.desc = desc;
    this.size = size;
    this.pool = pool;
    this.bufs = new Array(size).fill(undefined);
  }
}

/**
 * Points descriptor `d` of `q` at `buf` (3.2.3) and clears its status, so DD
 * is 0 until the device fills it.
 */
export function post(q: RxQueue, d: number, buf: PktBuf): void {
  const w = d * 4;
  // The 64-bit address as two 32-bit halves, split once per buffer
  // (PktBuf.dataPhysLo/Hi; docs/performance.md, change 8).
  q.desc[w + RXD.BUFFER_ADDR_LO] = buf.dataPhysLo;
  q.desc[w + RXD.BUFFER_ADDR_HI] = buf.dataPhysHi;
  q.desc[w + RXD.LENGTH_CSUM] = 0;
  // 3.2.3.1: "software must clear the status byte" before handing the
  // descriptor back, since the device only ever sets DD.
  q.desc[w + RXD.STATUS_ERRORS] = 0;
  q.bufs[d] = buf;
}

/**
 * Receives up to `count` frames from `q` into `bufs[0..n)` and returns n;
 * each returned buffer has `size` set and belongs to the caller.
 *
 * Descriptors written back wrongly — a frame spread over several descriptors
 * (no EOP; with RCTL.LPE = 0 one 2048-byte buffer holds any frame), a frame
 * error bit (3.2.3.2; only with RCTL.SBP, which we leave off), or a length of
 * 0 or beyond the buffer — are dropped and counted in `q.errors`, never
 * thrown; their buffers go back to the pool.
 */
export function rxBatch(q: RxQueue, bufs: PktBuf[], count: number): number {
  const desc = q.desc;
  const mask = q.size - 1;
  let index = q.index;
  let last = -1;
  let n = 0;
  while (n < count) {
    const w = index * 4;
    // The device writes the status last (3.2.3.1); the length below is read
    // after it. A plain load, not `Atomics.load`: as volatile here and no
    // builtin call (drivers/ixgbe/rx.ts, rxBatch: why; docs/performance.md,
    // "e1000 and igb as change 4": what it saves).
    const status = desc[w + RXD.STATUS_ERRORS];
    if ((status & E1000_RXD_STAT.DD) === 0) break;
    const fresh = q.pool.alloc();
    if (fresh === undefined) break; // the app holds every buffer: retry next call
    const buf = q.bufs[index]!;
    const length = desc[w + RXD.LENGTH_CSUM] & 0xffff;
    post(q, index, fresh);
    last = index;
    index = (index + 1) & mask;
    const eop = (status & E1000_RXD_STAT.EOP) !== 0;
    // Everything below comes from the device, so it is checked before use;
    // the buffer itself is ours (q.bufs), never an address read back.
    if (
      q.discarding || !eop || length === 0 || length > buf.data.length ||
      (status & E1000_RXD_STAT.FRAME_ERRORS) !== 0
    ) {
      // Drop: the tail of a multi-descriptor frame, its head, an error or a bad length.
      if (!q.discarding) q.errors++;
      q.discarding = !eop;
      q.pool.free(buf);
      continue;
    }
    buf.size = length;
    bufs[n++] = buf;
  }
  if (last >= 0) {
    // 3.2.6: the device may fill descriptors up to RDT - 1; `last` is the
    // last one we refilled, so it stays ours until the next call.
    q.regs.write32(E1000_RDT, last);
    q.index = index;
  }
  return n;
}

/**
 * The transmit path of a software 82599 port (datasheet rev. 3.3, 7.2):
 * when DMATXCTL.TE and TXDCTL[n].ENABLE are set, advanced data descriptors
 * (7.2.3.2.4) from TDH to TDT are fetched, their buffers read by DMA and
 * gathered up to EOP; TDH advances. Write-back follows 7.2.3.5.1: with
 * TXDCTL.WTHRESH = 0, DD is written into each descriptor with RS at once;
 * with WTHRESH > 0, processed descriptors are held back and written back
 * (all of them, DD set) in groups once WTHRESH have accumulated, or when the
 * driver sets TXDCTL.SWFLSH. So TDH = TDT means "fetched", not "written
 * back": up to WTHRESH - 1 descriptors may wait without DD. (The third
 * trigger, an interrupt-throttling timer of a TX cause, is not modelled: our
 * driver maps no TX cause.)
 * Short frames are padded (HLREG0.TXPADEN); GPTC and GOTC (CRC included)
 * count them; the frame goes to the wire.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import type { DmaSpace } from "./dma.ts";
import {
  CRC_BYTES,
  MAX_FRAME,
  MIN_FRAME,
  QUEUES,
  type Statistics,
  TWO_TO_32,
} from "./registers.ts";
import { type QueuePort, REG, type Ring, writeQueueRegister } from "./queues.ts";
import type { Violations } from "./violations.ts";

/** Transmit queue state: the ring, the frame being gathered, the write-backs held back. */
interface TxRing extends Ring {
  frame: Uint8Array;
  length: number;
  bad: boolean;
  /** Processed descriptors whose write-back waits for WTHRESH (7.2.3.5.1). */
  pending: number;
  /** Index of the first of them. */
  pendingFrom: number;
}

/** TXDCTL.WTHRESH, bits 22:16 (8.2.3.9.10). */
const WTHRESH_SHIFT = 16;
const WTHRESH_MASK = 0x7f;

/** The transmit queues of one port. */
export class TxPath {
  #regs: Uint32Array;
  #dma: DmaSpace;
  #check: Violations;
  #stats: Statistics;
  #wire: (frame: Uint8Array, length: number) => void;
  #queuePort: QueuePort;
  #tx: TxRing[] = [];
  #txEnabled: number[] = [];

  /** Works on the port's registers and counters; `wire` sends a frame (without CRC). */
  constructor(port: {
    regs: Uint32Array;
    dma: DmaSpace;
    check: Violations;
    stats: Statistics;
    wire: (frame: Uint8Array, length: number) => void;
  }) {
    this.#regs = port.regs;
    this.#dma = port.dma;
    this.#check = port.check;
    this.#stats = port.stats;
    this.#wire = port.wire;
    this.#queuePort = { regs: port.regs, check: port.check, dma: port.dma };
    for (let i = 0; i < QUEUES; i++) {
      this.#tx.push({
        enabled: false,
        slab: 0,
        word: 0,
        size: 0,
        frame: new Uint8Array(0),
        length: 0,
        bad: false,
        pending: 0,
        pendingFrom: 0,
      });
    }
  }

  /** Reset: every queue disabled, no frame half gathered. */
  reset(): void {
    for (const t of this.#tx) {
      t.enabled = false;
      t.length = 0;
      t.bad = false;
      t.pending = 0;
    }
    this.#txEnabled = [];
  }

  /** DMA stops at once (a reset begins). */
  stop(): void {
    for (const t of this.#tx) t.enabled = false;
    this.#txEnabled = [];
  }

  /** A write to register `reg` (offset in the 0x40 block) of queue `q`. */
  writeQueue(q: number, write: { reg: number; value: number }): void {
    const ring = this.#tx[q];
    if (write.reg === REG.DCTL && (write.value & C.IXGBE_TXDCTL_SWFLSH)) {
      // 8.2.3.9.10 SWFLSH: flush the held-back write-backs; the bit self-clears.
      if (ring.enabled) this.#writeBack(ring);
      write = { reg: write.reg, value: write.value & ~C.IXGBE_TXDCTL_SWFLSH };
    }
    if (writeQueueRegister(this.#queuePort, { dir: "TX", q, ring }, write)) {
      if (ring.frame.length === 0) ring.frame = new Uint8Array(MAX_FRAME);
      ring.length = 0;
      ring.bad = false;
      ring.pending = 0;
      ring.pendingFrom = this.#regs[C.IXGBE_TDH(q) >> 2];
    }
    if (write.reg === REG.DCTL) this.refreshEnabled();
  }

  /** Recomputes the list of enabled queues (after TXDCTL or DMATXCTL.TE changed). */
  refreshEnabled(): void {
    this.#txEnabled = [];
    for (let q = 0; q < QUEUES; q++) if (this.#tx[q].enabled) this.#txEnabled.push(q);
  }

  /** Processes up to `budget` descriptors per enabled queue; returns how many it took. */
  transmit(budget: number): number {
    if (!(this.#regs[C.IXGBE_DMATXCTL >> 2] & C.IXGBE_DMATXCTL_TE)) return 0;
    let n = 0;
    for (const q of this.#txEnabled) n += this.#transmitQueue(q, budget);
    return n;
  }

  #transmitQueue(q: number, budget: number): number {
    const r = this.#regs;
    const t = this.#tx[q];
    if (!t.enabled) return 0;
    const hIdx = C.IXGBE_TDH(q) >> 2;
    const tail = r[C.IXGBE_TDT(q) >> 2];
    let head = r[hIdx];
    const ring = this.#dma.u32[t.slab];
    const X = C.IXGBE_ADVTXD;
    const wthresh = (r[C.IXGBE_TXDCTL(q) >> 2] >>> WTHRESH_SHIFT) & WTHRESH_MASK;
    let n = 0;
    while (head !== tail && n < budget) {
      const w = t.word + head * 4;
      const lo = ring[w];
      const hi = ring[w + 1];
      const cmd = ring[w + 2];
      const olinfo = ring[w + 3];
      const len = cmd & X.DTALEN_MASK;
      const where = `TX descriptor ${head} of queue ${q}`;
      if (!t.bad) {
        const desc = { cmd, addr: lo + hi * TWO_TO_32, len, gathered: t.length };
        if (!this.#check.txDescriptor(where, desc)) {
          t.bad = true;
        } else {
          const off = this.#dma.offset;
          t.frame.set(this.#dma.u8[this.#dma.slab].subarray(off, off + len), t.length);
          t.length += len;
        }
      }
      // Write-back (7.2.3.5.1): with WTHRESH = 0 at once, for descriptors
      // with RS; with WTHRESH > 0 the device holds processed descriptors back
      // and writes them all back once WTHRESH have accumulated (or on
      // TXDCTL.SWFLSH). Until then TDH has passed them but DD is not set.
      if (wthresh === 0) {
        if (cmd & X.DCMD_RS) writeBackOne(ring, w);
      } else {
        if (t.pending === 0) t.pendingFrom = head;
        if (++t.pending >= wthresh) this.#writeBack(t);
      }
      head = head + 1 === t.size ? 0 : head + 1;
      n++;
      if (cmd & X.DCMD_EOP) {
        if (!t.bad) {
          this.#check.txPayLen(where, olinfo >>> X.PAYLEN_SHIFT, t.length);
          this.#sendFrame(t.frame, t.length);
        }
        t.length = 0;
        t.bad = false;
      }
    }
    r[hIdx] = head;
    return n;
  }

  /** Writes back every held-back descriptor of `t` (7.2.3.5.1). */
  #writeBack(t: TxRing): void {
    const ring = this.#dma.u32[t.slab];
    for (let i = 0, d = t.pendingFrom; i < t.pending; i++) {
      writeBackOne(ring, t.word + d * 4);
      d = d + 1 === t.size ? 0 : d + 1;
    }
    t.pending = 0;
  }

  #sendFrame(frame: Uint8Array, length: number): void {
    let n = length;
    if ((this.#regs[C.IXGBE_HLREG0 >> 2] & C.IXGBE_HLREG0_BITS.TXPADEN) && n < MIN_FRAME) {
      frame.fill(0, n, MIN_FRAME);
      n = MIN_FRAME;
    }
    this.#stats.gptc++;
    this.#stats.gotc += n + CRC_BYTES;
    this.#wire(frame, n);
  }
}

/** Writes back the descriptor at word `w` (7.2.3.2.4 write-back format): the whole descriptor, DD last. */
function writeBackOne(ring: Uint32Array, w: number): void {
  ring[w] = 0;
  ring[w + 1] = 0;
  ring[w + 2] = 0;
  Atomics.store(ring, w + 3, C.IXGBE_ADVTXD.STAT_DD);
}

/**
 * MSI-X receive interrupts of the 82599, one vector per receive queue —
 * ixy's `enable_msix_interrupt`, after the steps of the datasheet (rev. 3.3)
 * section 7.3.4.3 ("MSI-X mode") and the registers of 8.2.3.5. The driver
 * keeps polling; src/interrupts.ts decides when a queue's interrupt is
 * unmasked (idle queue) and masked again (traffic).
 *
 * Setup (once, after the rest of the bring-up, all causes masked):
 *
 * 1. GPIE (8.2.3.5.18): Multiple_MSIX (one message per vector) and
 *    PBA_support (the MSI-X pending bits follow EICR). No EIAME: we mask
 *    explicitly, with EIMC.
 * 2. IVAR[q >> 1] (8.2.3.5.16): receive queue q's cause goes to vector q,
 *    entry valid (INT_Alloc_val).
 * 3. EIAC (8.2.3.5.5): the queue causes clear themselves when their message
 *    is sent ("for best performance", 7.3.4.3), so we never read EICR.
 * 4. EITR[q] (8.2.3.5.12): the throttling interval (7.3.2.1), from the
 *    requested interrupts per second.
 * 5. Nothing in EIMS yet: {@link IxgbeInterrupts.enable} unmasks per queue.
 *
 * @module
 */

import type { IxyInterrupts } from "../../src/device.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import type { RegisterSpace } from "../../src/mmio.ts";
import { IxyError } from "../../src/error.ts";
import {
  IXGBE_EIAC,
  IXGBE_EICR,
  IXGBE_EIMC,
  IXGBE_EIMS,
  IXGBE_EITR,
  IXGBE_EITR_ITR_INTERVAL_MASK,
  IXGBE_EITR_UNIT_US,
  IXGBE_GPIE,
  IXGBE_GPIE_BITS,
  IXGBE_IVAR,
  IXGBE_IVAR_ALLOC_VAL,
  IXGBE_IVAR_SHIFT,
} from "./constants.ts";

/** Queue causes we can map: EICR bits 15:0, one per vector (8.2.3.5.1). */
export const IXGBE_MAX_IRQ_QUEUES = 16;
/** Default interrupts per second per queue: ixy's EITR 0x028 (10 us). */
export const IXGBE_DEFAULT_INTERRUPT_RATE = 100_000;

/**
 * The EITR value (8.2.3.5.12) for at most `rate` interrupts per second:
 * ITR_INTERVAL (bits 11:3) in 2.048 us units, 1..511; 0 = no throttling.
 * 100000/s gives 0x028 (10 us), 20000/s 0x0c0, 1000/s 0xf40; the longest
 * interval is 0xff8 (1.046 ms, ~956/s).
 */
export function eitrForRate(rate: number): number {
  if (!(rate >= 0) || !Number.isFinite(rate)) {
    throw new IxyError(`Invalid interrupt rate ${rate}: use interrupts per second, 0 = unlimited.`);
  }
  if (rate === 0) return 0;
  const field = Math.min(511, Math.max(1, Math.round(1e6 / rate / IXGBE_EITR_UNIT_US)));
  return (field << 3) & IXGBE_EITR_ITR_INTERVAL_MASK;
}

/** Receive interrupts of an 82599, one MSI-X vector per queue. */
export class IxgbeInterrupts implements IxyInterrupts {
  /** Interrupts taken so far (all queues). */
  count = 0;
  #regs: RegisterSpace;
  #vectors: readonly InterruptVector[];

  private constructor(regs: RegisterSpace, vectors: readonly InterruptVector[]) {
    this.#regs = regs;
    this.#vectors = vectors;
  }

  /**
   * Programs GPIE, IVAR, EIAC and EITR for receive queues 0..`queues`-1 →
   * vectors 0..`queues`-1 (`vectors[i]` is where vector i's messages arrive:
   * a VFIO eventfd or a model's vector). All causes stay masked.
   */
  static setup(
    regs: RegisterSpace,
    options: { queues: number; vectors: readonly InterruptVector[]; rate: number; name: string },
  ): IxgbeInterrupts {
    const { queues, vectors, name } = options;
    if (queues > IXGBE_MAX_IRQ_QUEUES || vectors.length < queues) {
      throw new IxyError(
        `${name}: interrupts need one MSI-X vector per RX queue, at most ` +
          `${IXGBE_MAX_IRQ_QUEUES} (EICR bits 15:0); have ${queues} queues and ` +
          `${vectors.length} vectors. Use fewer queues or no interrupts.`,
      );
    }
    const eitr = eitrForRate(options.rate);
    // 1. MSI-X mode with the pending bit array (GPIE, 8.2.3.5.18).
    regs.write32(
      IXGBE_GPIE,
      (regs.read32(IXGBE_GPIE) | IXGBE_GPIE_BITS.MSIX_MODE | IXGBE_GPIE_BITS.PBA_SUPPORT) >>> 0,
    );
    let bits = 0;
    for (let q = 0; q < queues; q++) {
      // 2. RX queue q -> vector q (IVAR, 8.2.3.5.16): clear the entry, set vector | valid.
      const shift = IXGBE_IVAR_SHIFT(q, false);
      const ivar = regs.read32(IXGBE_IVAR(q >> 1)) & ~(0xff << shift);
      regs.write32(IXGBE_IVAR(q >> 1), (ivar | ((q | IXGBE_IVAR_ALLOC_VAL) << shift)) >>> 0);
      // 4. Throttling for vector q (EITR, 8.2.3.5.12).
      regs.write32(IXGBE_EITR(q), eitr);
      bits |= 1 << q;
    }
    // 3. Auto-clear the queue causes when their message is sent (EIAC, 8.2.3.5.5).
    regs.write32(IXGBE_EIAC, (regs.read32(IXGBE_EIAC) | bits) >>> 0);
    return new IxgbeInterrupts(regs, vectors);
  }

  /**
   * Unmasks queue `queueId`'s cause: drops stale messages, clears a cause
   * latched while we polled (EICR is write-1-to-clear, 8.2.3.5.1), sets EIMS
   * (8.2.3.5.3), and reads EIMS back: a read flushes the posted writes, so
   * every frame written back after this returns raises the interrupt.
   */
  enable(queueId: number): void {
    const bit = 1 << queueId;
    this.#vectors[queueId].consume();
    this.#regs.write32(IXGBE_EICR, bit);
    this.#regs.write32(IXGBE_EIMS, bit);
    this.#regs.read32(IXGBE_EIMS);
  }

  /** Masks queue `queueId`'s cause (EIMC, 8.2.3.5.4). */
  disable(queueId: number): void {
    this.#regs.write32(IXGBE_EIMC, 1 << queueId);
  }

  /** Waits for vector `queueId` without blocking the event loop; true if it fired. */
  async wait(queueId: number, timeoutMs: number): Promise<boolean> {
    const n = await this.#vectors[queueId].wait(timeoutMs);
    this.count += n;
    return n > 0;
  }
}

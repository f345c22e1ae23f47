/**
 * MSI-X receive interrupts of the 82576, one vector per receive queue —
 * drivers/ixgbe/interrupts.ts at the 82576's addresses (datasheet 7.3
 * "Interrupts", registers in 8.8). The driver keeps polling;
 * src/interrupts.ts decides when a queue's interrupt is unmasked (idle queue)
 * and masked again (traffic).
 *
 * Setup (once, after the rest of the bring-up, all causes masked):
 *
 * 1. GPIE: Multiple_MSIX (EICR bit n = MSI-X vector n) and PBA_support. No
 *    EIAME: we mask explicitly, with EIMC.
 * 2. IVAR0[q & 7]: receive queue q's cause goes to vector q, entry valid. The
 *    82576 packs queues q and q+8 in one register (the 82599: 2n and 2n+1).
 * 3. EIAC: the queue causes clear themselves when their message is sent, so
 *    we never read EICR.
 * 4. EITR[q]: the throttling interval, in microseconds (the 82599: 2.048 us
 *    units).
 * 5. Nothing in EIMS yet: {@link IgbInterrupts.enable} unmasks per queue.
 *
 * The PF of an 82576 has 10 MSI-X vectors, so at most 10 queues get one.
 *
 * @module
 */

import type { IxyInterrupts } from "../../src/device.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import type { RegisterSpace } from "../../src/mmio.ts";
import { IxyError } from "../../src/error.ts";
import {
  IGB_EIAC,
  IGB_EICR,
  IGB_EIMC,
  IGB_EIMS,
  IGB_EITR,
  IGB_EITR_INTERVAL_MASK,
  IGB_GPIE,
  IGB_GPIE_BITS,
  IGB_IVAR,
  IGB_IVAR_INDEX,
  IGB_IVAR_SHIFT,
  IGB_IVAR_VALID,
  IGB_MSIX_VECTORS,
} from "./constants.ts";

/** Queues we can give a vector: the PF's MSI-X vectors. */
export const IGB_MAX_IRQ_QUEUES = IGB_MSIX_VECTORS;
/** Default interrupts per second per queue: 100000 (10 us), as ixgbe. */
export const IGB_DEFAULT_INTERRUPT_RATE = 100_000;

/**
 * The EITR value (8.8) for at most `rate` interrupts per second: the
 * interval in microseconds in bits 14:2, 1..8191; 0 = no throttling.
 * 100000/s gives 0x028 (10 us), 20000/s 0x0c8, 1000/s 0xfa0.
 */
export function eitrForRate(rate: number): number {
  if (!(rate >= 0) || !Number.isFinite(rate)) {
    throw new IxyError(`Invalid interrupt rate ${rate}: use interrupts per second, 0 = unlimited.`);
  }
  if (rate === 0) return 0;
  const us = Math.min(8191, Math.max(1, Math.round(1e6 / rate)));
  return (us << 2) & IGB_EITR_INTERVAL_MASK;
}

/** Receive interrupts of an 82576, one MSI-X vector per queue. */
export class IgbInterrupts implements IxyInterrupts {
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
   * a VFIO eventfd). All causes stay masked.
   */
  static setup(
    regs: RegisterSpace,
    options: { queues: number; vectors: readonly InterruptVector[]; rate: number; name: string },
  ): IgbInterrupts {
    const { queues, vectors, name } = options;
    if (queues > IGB_MAX_IRQ_QUEUES || vectors.length < queues) {
      throw new IxyError(
        `${name}: interrupts need one MSI-X vector per RX queue, at most ` +
          `${IGB_MAX_IRQ_QUEUES} (the 82576 PF's MSI-X vectors); have ${queues} queues and ` +
          `${vectors.length} vectors. Use fewer queues or no interrupts.`,
      );
    }
    const eitr = eitrForRate(options.rate);
    // 1. MSI-X mode with the pending bit array (GPIE).
    regs.write32(
      IGB_GPIE,
      (regs.read32(IGB_GPIE) | IGB_GPIE_BITS.MSIX_MODE | IGB_GPIE_BITS.PBA_SUPPORT) >>> 0,
    );
    let bits = 0;
    for (let q = 0; q < queues; q++) {
      // 2. RX queue q -> vector q (IVAR0): clear the entry, set vector | valid.
      const reg = IGB_IVAR(IGB_IVAR_INDEX(q));
      const shift = IGB_IVAR_SHIFT(q, false);
      const ivar = regs.read32(reg) & ~(0xff << shift);
      regs.write32(reg, (ivar | ((q | IGB_IVAR_VALID) << shift)) >>> 0);
      // 4. Throttling for vector q (EITR).
      regs.write32(IGB_EITR(q), eitr);
      bits |= 1 << q;
    }
    // 3. Auto-clear the queue causes when their message is sent (EIAC).
    regs.write32(IGB_EIAC, (regs.read32(IGB_EIAC) | bits) >>> 0);
    return new IgbInterrupts(regs, vectors);
  }

  /**
   * Unmasks queue `queueId`'s cause: drops stale messages, clears a cause
   * latched while we polled (EICR is write-1-to-clear), sets EIMS, and reads
   * EIMS back to flush the posted writes (as ixgbe).
   */
  enable(queueId: number): void {
    const bit = 1 << queueId;
    this.#vectors[queueId].consume();
    this.#regs.write32(IGB_EICR, bit);
    this.#regs.write32(IGB_EIMS, bit);
    this.#regs.read32(IGB_EIMS);
  }

  /** Masks queue `queueId`'s cause (EIMC). */
  disable(queueId: number): void {
    this.#regs.write32(IGB_EIMC, 1 << queueId);
  }

  /** Waits for vector `queueId` without blocking the event loop; true if it fired. */
  async wait(queueId: number, timeoutMs: number): Promise<boolean> {
    const n = await this.#vectors[queueId].wait(timeoutMs);
    this.count += n;
    return n > 0;
  }
}

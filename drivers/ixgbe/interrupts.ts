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
 * The 82576 (drivers/igb) has the same design — the same registers and bits
 * at other offsets, IVAR entries packed otherwise, EITR in other units
 * (82576 datasheet 7.3, 8.8) — so this class serves it too, given the
 * 82576's {@link MsixRegisterMap} (drivers/igb/interrupts.ts).
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

/**
 * Where a NIC of the 82599's interrupt design keeps what {@link
 * IxgbeInterrupts} programs: register offsets in BAR0 and the packing of
 * IVAR entries and EITR values.
 */
export interface MsixRegisterMap {
  /** Queues it can give a vector, and why no more (for the error message). */
  readonly maxQueues: number;
  readonly maxQueuesWhy: string;
  /** GPIE's offset, and its bits Multiple_MSIX | PBA_support. */
  readonly gpie: { readonly offset: number; readonly msix: number };
  /** The cause and mask registers: one bit per vector in each. */
  readonly causes: {
    readonly eicr: number;
    readonly eims: number;
    readonly eimc: number;
    readonly eiac: number;
  };
  /**
   * IVAR: the register holding receive queue `q`'s entry, the entry's bit
   * position in it, and its valid bit (INT_Alloc_val).
   */
  readonly ivar: {
    register(q: number): number;
    shift(q: number): number;
    readonly valid: number;
  };
  /** The EITR register of vector `n`. */
  eitr(n: number): number;
  /** The EITR value for at most `rate` interrupts per second (0 = no throttling). */
  eitrForRate(rate: number): number;
}

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
  return (throttleInterval(rate, IXGBE_EITR_UNIT_US, 511) << 3) & IXGBE_EITR_ITR_INTERVAL_MASK;
}

/**
 * The EITR interval field for at most `rate` interrupts per second: the gap
 * 1 / `rate` in units of `unitUs` microseconds, 1..`max`; 0 for `rate` 0 (no
 * throttling). Shared by the 82599's and the 82576's {@link eitrForRate}.
 */
export function throttleInterval(rate: number, unitUs: number, max: number): number {
  if (!(rate >= 0) || !Number.isFinite(rate)) {
    throw new IxyError(`Invalid interrupt rate ${rate}: use interrupts per second, 0 = unlimited.`);
  }
  if (rate === 0) return 0;
  return Math.min(max, Math.max(1, Math.round(1e6 / rate / unitUs)));
}

/** The 82599's interrupt registers (8.2.3.5). */
export const IXGBE_MSIX_MAP: MsixRegisterMap = {
  maxQueues: IXGBE_MAX_IRQ_QUEUES,
  maxQueuesWhy: "EICR bits 15:0",
  gpie: { offset: IXGBE_GPIE, msix: IXGBE_GPIE_BITS.MSIX_MODE | IXGBE_GPIE_BITS.PBA_SUPPORT },
  causes: { eicr: IXGBE_EICR, eims: IXGBE_EIMS, eimc: IXGBE_EIMC, eiac: IXGBE_EIAC },
  // IVAR[q >> 1] holds the entries of queues 2n and 2n+1 (8.2.3.5.16).
  ivar: {
    register: (q) => IXGBE_IVAR(q >> 1),
    shift: (q) => IXGBE_IVAR_SHIFT(q, false),
    valid: IXGBE_IVAR_ALLOC_VAL,
  },
  eitr: IXGBE_EITR,
  eitrForRate,
};

/**
 * Receive interrupts of an 82599 — or, with the 82576's register map, of an
 * 82576 — one MSI-X vector per queue.
 */
export class IxgbeInterrupts implements IxyInterrupts {
  /** Interrupts taken so far (all queues). */
  count = 0;
  #regs: RegisterSpace;
  #vectors: readonly InterruptVector[];
  #causes: MsixRegisterMap["causes"];

  private constructor(
    regs: RegisterSpace,
    vectors: readonly InterruptVector[],
    map: MsixRegisterMap,
  ) {
    this.#regs = regs;
    this.#vectors = vectors;
    this.#causes = map.causes;
  }

  /**
   * Programs GPIE, IVAR, EIAC and EITR for receive queues 0..`queues`-1 →
   * vectors 0..`queues`-1 (`vectors[i]` is where vector i's messages arrive:
   * a VFIO eventfd or a model's vector). All causes stay masked. `map`
   * says where the registers are (default: the 82599's).
   */
  static setup(
    regs: RegisterSpace,
    options: {
      queues: number;
      vectors: readonly InterruptVector[];
      rate: number;
      name: string;
      map?: MsixRegisterMap;
    },
  ): IxgbeInterrupts {
    const { queues, vectors, name } = options;
    const m = options.map ?? IXGBE_MSIX_MAP;
    if (queues > m.maxQueues || vectors.length < queues) {
      throw new IxyError(
        `${name}: interrupts need one MSI-X vector per RX queue, at most ` +
          `${m.maxQueues} (${m.maxQueuesWhy}); have ${queues} queues and ` +
          `${vectors.length} vectors. Use fewer queues or no interrupts.`,
      );
    }
    const eitr = m.eitrForRate(options.rate);
    // 1. MSI-X mode with the pending bit array (GPIE, 8.2.3.5.18).
    regs.write32(m.gpie.offset, (regs.read32(m.gpie.offset) | m.gpie.msix) >>> 0);
    let bits = 0;
    for (let q = 0; q < queues; q++) {
      // 2. RX queue q -> vector q (IVAR, 8.2.3.5.16): clear the entry, set vector | valid.
      const shift = m.ivar.shift(q);
      const ivar = regs.read32(m.ivar.register(q)) & ~(0xff << shift);
      regs.write32(m.ivar.register(q), (ivar | ((q | m.ivar.valid) << shift)) >>> 0);
      // 4. Throttling for vector q (EITR, 8.2.3.5.12).
      regs.write32(m.eitr(q), eitr);
      bits |= 1 << q;
    }
    // 3. Auto-clear the queue causes when their message is sent (EIAC, 8.2.3.5.5).
    regs.write32(m.causes.eiac, (regs.read32(m.causes.eiac) | bits) >>> 0);
    return new IxgbeInterrupts(regs, vectors, m);
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
    this.#regs.write32(this.#causes.eicr, bit);
    this.#regs.write32(this.#causes.eims, bit);
    this.#regs.read32(this.#causes.eims);
  }

  /** Masks queue `queueId`'s cause (EIMC, 8.2.3.5.4). */
  disable(queueId: number): void {
    this.#regs.write32(this.#causes.eimc, 1 << queueId);
  }

  /** Waits for vector `queueId` without blocking the event loop; true if it fired. */
  async wait(queueId: number, timeoutMs: number): Promise<boolean> {
    const n = await this.#vectors[queueId].wait(timeoutMs);
    this.count += n;
    return n > 0;
  }
}

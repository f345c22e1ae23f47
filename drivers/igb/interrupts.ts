/**
 * MSI-X receive interrupts of the 82576, one vector per receive queue: the
 * 82576's register map for drivers/ixgbe/interrupts.ts's `IxgbeInterrupts`,
 * whose setup, enable, disable and wait serve both chips (datasheet 7.3
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
 * 5. Nothing in EIMS yet: `enable` unmasks per queue (EICR, EIMS; EIMC masks).
 *
 * The PF of an 82576 has 10 MSI-X vectors, so at most 10 queues get one.
 *
 * @module
 */

import type { MsixRegisterMap } from "../ixgbe/interrupts.ts";
import { throttleInterval } from "../ixgbe/interrupts.ts";
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
  return (throttleInterval(rate, 1, 8191) << 2) & IGB_EITR_INTERVAL_MASK;
}

/** The 82576's interrupt registers (8.8), for `IxgbeInterrupts.setup`. */
export const IGB_MSIX_MAP: MsixRegisterMap = {
  // First what differs most from the 82599: IVAR0[q & 7] holds the entries
  // of queues q and q + 8 (RX q in bits 7:0, RX q + 8 in bits 23:16).
  ivar: {
    register: (q) => IGB_IVAR(IGB_IVAR_INDEX(q)),
    shift: (q) => IGB_IVAR_SHIFT(q, false),
    valid: IGB_IVAR_VALID,
  },
  // EITR in microseconds (the 82599: 2.048 us units).
  eitrForRate,
  eitr: IGB_EITR,
  maxQueues: IGB_MAX_IRQ_QUEUES,
  maxQueuesWhy: "the 82576 PF's MSI-X vectors",
  gpie: { offset: IGB_GPIE, msix: IGB_GPIE_BITS.MSIX_MODE | IGB_GPIE_BITS.PBA_SUPPORT },
  causes: { eicr: IGB_EICR, eims: IGB_EIMS, eimc: IGB_EIMC, eiac: IGB_EIAC },
};

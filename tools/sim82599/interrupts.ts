/**
 * The interrupt unit of a software 82599 port (datasheet rev. 3.3, section
 * 7.3 "Interrupts", registers in 8.2.3.5), in MSI-X mode as VFIO sets the PCI
 * function up. Runs in the device worker, part of a port (model.ts); rx.ts
 * calls {@link InterruptUnit.rxWriteBack} whenever it writes back a receive
 * descriptor.
 *
 * What is modelled:
 *
 * - Causes (7.3.1, EICR 8.2.3.5.1): a receive write-back on queue q looks up
 *   q's entry in IVAR[q >> 1] (8.2.3.5.16); if it is valid (bit 7) the cause
 *   bit of its vector (bits 5:0; the model has vectors 0-15, EICR bits 15:0)
 *   is set in EICR. An invalid entry sets nothing: the event is not mapped.
 *   EICS (8.2.3.5.2) sets cause bits by software. EICR clears on read and
 *   where 1s are written.
 * - Masking (EIMS/EIMC, 8.2.3.5.3-4): a message is sent when a cause bit is
 *   set while its mask bit is set — a new cause while unmasked, or unmasking
 *   a cause that is already set. One message per cause: while the bit stays
 *   set in EICR, more events of it send nothing more.
 * - MSI-X (GPIE.Multiple_MSIX, 8.2.3.5.18; 7.3.4.3): message n goes to
 *   vector n, i.e. bumps word n of the port's shared vector array (the
 *   "eventfd"). Without Multiple_MSIX every cause goes to vector 0 (MSI).
 * - Auto-clear (EIAC, 8.2.3.5.5; MSI-X mode only): the cause bits set in EIAC
 *   clear when their message is sent, so the next event interrupts again.
 *   Without it the driver must clear EICR itself.
 * - Auto-mask (EIAM, 8.2.3.5.6, with GPIE.EIAME): the mask bits set in EIAM
 *   clear when the message is sent.
 * - Throttling (EITR[n], 8.2.3.5.12; 7.3.2.1): after a message on vector n,
 *   the next waits ITR_INTERVAL × 2.048 us (bits 11:3); a cause that comes
 *   sooner is sent when the interval ends (if still set and unmasked).
 *
 * Violations: a queue cause unmasked (EIMS) with no valid IVAR entry mapping
 * to it; a queue cause unmasked while GPIE.Multiple_MSIX is 0 (the function
 * has MSI-X enabled, so every cause would land on vector 0); an IVAR entry
 * for a vector the model does not have (16 and up). Not modelled: transmit
 * causes (TX write-back sets no cause), the "other" causes (link, ...),
 * vectors 16-63 (EICR[n]), low-latency interrupts, the MSI-X table itself.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";

/** MSI-X vectors the model implements (EICR bits 15:0). */
export const SIM_MSIX_VECTORS = 16;

/** Where violations go: register, datasheet section, what happened. */
export type InterruptViolationSink = (register: string, section: string, message: string) => void;

const EITR_LAST_LOW = C.IXGBE_EITR(23);

/** The interrupt registers and logic of one port. */
export class InterruptUnit {
  #violation: InterruptViolationSink;
  #signal: (vector: number) => void;
  #eicr = 0;
  #eims = 0;
  #eiac = 0;
  #eiam = 0;
  #gpie = 0;
  #ivar = new Uint32Array(64);
  #ivarMisc = 0;
  #eitr = new Uint32Array(SIM_MSIX_VECTORS);
  /** Cause bits whose message was sent and that are still set (no auto-clear). */
  #signalled = 0;
  /** Per vector: earliest time of its next message (EITR). */
  #nextAllowed = new Float64Array(SIM_MSIX_VECTORS);
  /** Earliest deferred message, or Infinity. */
  #due = Infinity;

  /** `signal(n)` delivers an MSI-X message on vector n. */
  constructor(env: { violation: InterruptViolationSink; signal: (vector: number) => void }) {
    this.#violation = env.violation;
    this.#signal = env.signal;
  }

  /** Reset values (all zero: masked, no causes, no mapping, legacy mode). */
  reset(): void {
    this.#eicr =
      this.#eims =
      this.#eiac =
      this.#eiam =
      this.#gpie =
      this.#ivarMisc =
        0;
    this.#ivar.fill(0);
    this.#eitr.fill(0);
    this.#signalled = 0;
    this.#nextAllowed.fill(0);
    this.#due = Infinity;
  }

  /** Whether `off` is one of our registers. */
  owns(off: number): boolean {
    return off === C.IXGBE_EICR || off === C.IXGBE_EICS || off === C.IXGBE_EIMS ||
      off === C.IXGBE_EIMC || off === C.IXGBE_EIAC || off === C.IXGBE_EIAM ||
      off === C.IXGBE_GPIE || off === 0x00a00 ||
      (off >= C.IXGBE_IVAR(0) && off <= C.IXGBE_IVAR(63)) ||
      (off >= C.IXGBE_EITR(0) && off <= EITR_LAST_LOW);
  }

  /** A register read (EICR clears on read). */
  read(off: number): number {
    switch (off) {
      case C.IXGBE_EICR: {
        const v = this.#eicr;
        this.#eicr = 0;
        this.#signalled = 0;
        return v >>> 0;
      }
      case C.IXGBE_EICS:
        return this.#eicr >>> 0;
      case C.IXGBE_EIMS:
        return this.#eims >>> 0;
      case C.IXGBE_EIMC:
        return 0; // write-only
      case C.IXGBE_EIAC:
        return this.#eiac >>> 0;
      case C.IXGBE_EIAM:
        return this.#eiam >>> 0;
      case C.IXGBE_GPIE:
        return this.#gpie >>> 0;
      case 0x00a00:
        return this.#ivarMisc >>> 0;
    }
    if (off >= C.IXGBE_IVAR(0) && off <= C.IXGBE_IVAR(63)) {
      return this.#ivar[(off - C.IXGBE_IVAR(0)) >> 2];
    }
    const n = (off - C.IXGBE_EITR(0)) >> 2;
    return n < SIM_MSIX_VECTORS ? this.#eitr[n] : 0;
  }

  /** A register write, with its effects at time `now` (ms). */
  write(off: number, value: number, now: number): void {
    const v = value >>> 0;
    switch (off) {
      case C.IXGBE_EICR: // write 1s to clear
        this.#eicr &= ~v;
        this.#signalled &= ~v;
        return;
      case C.IXGBE_EICS:
        this.#eicr |= v & C.IXGBE_IRQ_CLEAR_MASK;
        this.#evaluate(now);
        return;
      case C.IXGBE_EIMS:
        this.#checkUnmask(v & ~this.#eims & C.IXGBE_EICR_RTX_QUEUE);
        this.#eims |= v & C.IXGBE_IRQ_CLEAR_MASK;
        this.#evaluate(now);
        return;
      case C.IXGBE_EIMC:
        this.#eims &= ~v;
        this.#signalled &= ~v;
        return;
      case C.IXGBE_EIAC:
        this.#eiac = v;
        return;
      case C.IXGBE_EIAM:
        this.#eiam = v;
        return;
      case C.IXGBE_GPIE:
        this.#gpie = v;
        return;
      case 0x00a00:
        this.#ivarMisc = v;
        return;
    }
    if (off >= C.IXGBE_IVAR(0) && off <= C.IXGBE_IVAR(63)) {
      const n = (off - C.IXGBE_IVAR(0)) >> 2;
      this.#ivar[n] = v;
      for (let e = 0; e < 4; e++) {
        const entry = (v >>> (8 * e)) & 0xff;
        if ((entry & C.IXGBE_IVAR_ALLOC_VAL) && (entry & 0x3f) >= SIM_MSIX_VECTORS) {
          const queue = 2 * n + (e >> 1);
          this.#violation(
            `IVAR(${n})`,
            "8.2.3.5.16",
            `${e & 1 ? "TX" : "RX"} queue ${queue} mapped to MSI-X vector ${entry & 0x3f}: the ` +
              `software 82599 has vectors 0-${SIM_MSIX_VECTORS - 1} (EICR bits 15:0).`,
          );
        }
      }
      return;
    }
    const n = (off - C.IXGBE_EITR(0)) >> 2;
    if (n < SIM_MSIX_VECTORS) this.#eitr[n] = v;
  }

  /** Receive queue `queue` wrote back a descriptor at time `now`: its cause, if mapped. */
  rxWriteBack(queue: number, now: number): void {
    const entry = (this.#ivar[queue >> 1] >>> C.IXGBE_IVAR_SHIFT(queue, false)) & 0xff;
    if (!(entry & C.IXGBE_IVAR_ALLOC_VAL)) return; // not mapped: no cause (7.3.4)
    const vector = entry & 0x3f;
    if (vector >= SIM_MSIX_VECTORS) return;
    this.#eicr |= 1 << vector;
    this.#evaluate(now);
  }

  /** Sends deferred (throttled) messages that are due; returns how many. */
  tick(now: number): number {
    if (now < this.#due) return 0;
    return this.#evaluate(now);
  }

  /** True while a throttled message waits for its interval to end. */
  get timerPending(): boolean {
    return this.#due !== Infinity;
  }

  /** Milliseconds until the next deferred message, or Infinity. */
  nextTimer(now: number): number {
    return this.#due === Infinity ? Infinity : Math.max(0, this.#due - now);
  }

  /** Sends the messages that are due: set, unmasked, not yet sent, interval over. */
  #evaluate(now: number): number {
    const msix = (this.#gpie & C.IXGBE_GPIE_BITS.MSIX_MODE) !== 0;
    let pending = this.#eicr & this.#eims & C.IXGBE_EICR_RTX_QUEUE & ~this.#signalled;
    let due = Infinity;
    let sent = 0;
    while (pending !== 0) {
      const v = 31 - Math.clz32(pending);
      const bit = 1 << v;
      pending &= ~bit;
      const timer = msix ? v : 0; // EITR[n] per vector in MSI-X mode, EITR[0] otherwise
      if (now < this.#nextAllowed[timer]) {
        due = Math.min(due, this.#nextAllowed[timer]);
        continue;
      }
      this.#signal(msix ? v : 0);
      sent++;
      const field = (this.#eitr[timer] & C.IXGBE_EITR_ITR_INTERVAL_MASK) >>> 3;
      this.#nextAllowed[timer] = now + (field * C.IXGBE_EITR_UNIT_US) / 1000;
      if (msix && (this.#eiac & bit)) this.#eicr &= ~bit; // auto-clear
      else this.#signalled |= bit;
      if ((this.#gpie & C.IXGBE_GPIE_BITS.EIAME) && (this.#eiam & bit)) this.#eims &= ~bit;
    }
    this.#due = due;
    return sent;
  }

  /** Violations for queue cause bits `bits` being unmasked now. */
  #checkUnmask(bits: number): void {
    if (bits === 0) return;
    if (!(this.#gpie & C.IXGBE_GPIE_BITS.MSIX_MODE)) {
      this.#violation(
        "EIMS",
        "8.2.3.5.18",
        `queue causes 0x${bits.toString(16)} unmasked while GPIE.Multiple_MSIX is 0: the ` +
          `function runs MSI-X (VFIO enabled it), so every cause would arrive on vector 0. ` +
          `Set GPIE.Multiple_MSIX (7.3.4.3) before unmasking.`,
      );
    }
    let mapped = 0;
    for (let n = 0; n < 64; n++) {
      const ivar = this.#ivar[n];
      for (let e = 0; e < 4; e++) {
        const entry = (ivar >>> (8 * e)) & 0xff;
        if ((entry & C.IXGBE_IVAR_ALLOC_VAL) && (entry & 0x3f) < SIM_MSIX_VECTORS) {
          mapped |= 1 << (entry & 0x3f);
        }
      }
    }
    const unmapped = bits & ~mapped;
    if (unmapped !== 0) {
      this.#violation(
        "EIMS",
        "7.3.4",
        `cause bits 0x${unmapped.toString(16)} unmasked, but no valid IVAR entry maps a queue ` +
          `to them: program IVAR[n] (vector and INT_Alloc_val, 8.2.3.5.16) before EIMS.`,
      );
    }
  }
}

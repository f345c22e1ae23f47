/**
 * The register file of a software 82599 port (datasheet rev. 3.3, 8.2.3
 * register summary): its size, the 82598-compatible aliases, the reset
 * values, the registers whose bits are read-only, and the statistics
 * counters that clear on read (8.2.3.23). Registers with more to them live
 * next to what they drive: CTRL/AUTOC/LINKS in model.ts, the queue
 * registers in queues.ts, RAL/RAH in rx.ts, the interrupt registers in
 * interrupts.ts.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";

/** Size of the register space we model (the 82599's CSR space is 128 KB, 8.1). */
export const BAR_SIZE = 0x20000;
export const QUEUES = 128;
export const TWO_TO_32 = 0x1_0000_0000;
/** Largest frame we gather on transmit (jumbo frames go up to 15.5 KB, 8.2.3.22.13). */
export const MAX_FRAME = 16 * 1024;
export const MIN_FRAME = 60;
export const CRC_BYTES = 4;

/** Maps the 82598-compatible aliases to the 82599 addresses (8.2.3 register summary). */
export function canonical(off: number): number {
  if (off >= 0x05400 && off < 0x05480) return 0x0a200 + (off - 0x05400); // RAL/RAH 0-15
  if (off >= 0x02100 && off < 0x02140) return 0x01014 + ((off - 0x02100) >> 2) * 0x40; // SRRCTL
  if (off >= 0x02200 && off < 0x02240) return 0x0100c + ((off - 0x02200) >> 2) * 0x40; // DCA_RXCTRL
  return off;
}

/** Whether `off` is one of QPRDC[0-15] (it sits in the receive queue blocks, at 0x30). */
export function isQprdc(off: number): boolean {
  return off >= C.IXGBE_QPRDC(0) && off <= C.IXGBE_QPRDC(15) && (off & 0x3f) === 0x30;
}

// -------------------------------------------------------------------------
// Reset values

/** Puts the register file `r` in its reset state, with `mac` loaded "from the EEPROM". */
export function applyResetValues(r: Uint32Array, mac: number[]): void {
  r.fill(0);
  // EEPROM auto-read and DMA init are done when the reset ends.
  r[C.IXGBE_EEC >> 2] = C.IXGBE_EEC_ARD | 0x100; // ARD | PRES (EEPROM present)
  r[C.IXGBE_RDRXCTL >> 2] = C.IXGBE_RDRXCTL_BITS.DMAIDONE;
  r[C.IXGBE_DMATXCTL >> 2] = 0x81000000; // VT = 0x8100, the VLAN EtherType (8.2.3.9.2)
  r[C.IXGBE_RXPBSIZE(0) >> 2] = 0x00080000; // 512 KB (8.2.3.8.9)
  r[C.IXGBE_TXPBSIZE(0) >> 2] = 0x00028000; // 160 KB (8.2.3.9.13)
  r[C.IXGBE_HLREG0 >> 2] = C.IXGBE_HLREG0_BITS.TXCRCEN | C.IXGBE_HLREG0_BITS.RXCRCSTRP |
    C.IXGBE_HLREG0_BITS.TXPADEN;
  for (let q = 0; q < QUEUES; q++) {
    r[canonical(C.IXGBE_SRRCTL(q)) >> 2] = 0x402; // 2 KB packet buffer, 256-byte header buffer
    r[canonical(C.IXGBE_DCA_RXCTRL(q)) >> 2] = C.IXGBE_DCA_RXCTRL_BIT12;
  }
  // The MAC address "from the EEPROM" in receive address 0, valid.
  const m = mac;
  r[0x0a200 >> 2] = (m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0;
  r[0x0a204 >> 2] = (m[4] | (m[5] << 8) | C.IXGBE_RAH_AV) >>> 0;
}

// -------------------------------------------------------------------------
// Register writes

/**
 * A write to a register that is only storage, or has read-only bits, or is
 * read-only altogether (the statistics clear on read, not on write).
 */
export function writeRegister(r: Uint32Array, off: number, value: number): void {
  switch (off) {
    case C.IXGBE_EEC:
      r[off >> 2] = (value & ~0x300) | (r[off >> 2] & 0x300); // ARD, PRES are read-only
      return;
    case C.IXGBE_LINKS:
    case C.IXGBE_GPRC:
    case C.IXGBE_GPTC:
    case C.IXGBE_GORCL:
    case C.IXGBE_GORCH:
    case C.IXGBE_GOTCL:
    case C.IXGBE_GOTCH:
      return; // read-only
    case C.IXGBE_RDRXCTL:
      r[off >> 2] = value | C.IXGBE_RDRXCTL_BITS.DMAIDONE; // DMAIDONE is read-only
      return;
  }
  r[off >> 2] = value;
}

// -------------------------------------------------------------------------
// Statistics (8.2.3.23)

/**
 * The statistics counters the model keeps: GPRC, GPTC, GORCL/H, GOTCL/H,
 * MPC[n], QPRDC[n]. Kept as plain numbers; a read returns the register's
 * bits and clears the counter (the 36-bit octet counters: reading the low
 * half clears what it returned, reading the high half clears the rest).
 */
export class Statistics {
  gprc = 0;
  gptc = 0;
  gorc = 0;
  gotc = 0;
  readonly mpc = new Float64Array(8);
  readonly qprdc = new Float64Array(16);

  /** All counters to 0, as after a reset. */
  reset(): void {
    this.gprc =
      this.gptc =
      this.gorc =
      this.gotc =
        0;
    this.mpc.fill(0);
    this.qprdc.fill(0);
  }

  /** A read of counter register `off`, which clears it; undefined if `off` is no counter. */
  read(off: number): number | undefined {
    switch (off) {
      case C.IXGBE_GPRC:
        return this.#take("gprc", "all");
      case C.IXGBE_GPTC:
        return this.#take("gptc", "all");
      case C.IXGBE_GORCL:
        return this.#take("gorc", "low");
      case C.IXGBE_GORCH:
        return this.#take("gorc", "high");
      case C.IXGBE_GOTCL:
        return this.#take("gotc", "low");
      case C.IXGBE_GOTCH:
        return this.#take("gotc", "high");
    }
    if (off >= C.IXGBE_MPC(0) && off <= C.IXGBE_MPC(7)) {
      const i = (off - C.IXGBE_MPC(0)) >> 2;
      const v = this.mpc[i] % TWO_TO_32;
      this.mpc[i] = 0;
      return v;
    }
    if (isQprdc(off)) {
      const i = (off - C.IXGBE_QPRDC(0)) >> 6;
      const v = this.qprdc[i] % TWO_TO_32;
      this.qprdc[i] = 0;
      return v;
    }
    return undefined;
  }

  /**
   * Reads a counter as a register and clears what the read returned: "all"
   * (a 32-bit counter), "low" (bits 31:0 of a 36-bit one; the rest stays for
   * the high half) or "high" (bits 35:32, and the counter is cleared).
   */
  #take(name: "gprc" | "gptc" | "gorc" | "gotc", part: "all" | "low" | "high"): number {
    const n = this[name];
    if (part === "high") {
      this[name] = 0;
      return Math.floor(n / TWO_TO_32) & 0xf;
    }
    const v = n % TWO_TO_32;
    this[name] = part === "low" ? n - v : 0;
    return v;
  }
}

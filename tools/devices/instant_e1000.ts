/**
 * An "instant" Intel 82540EM for benchmarks, the e1000 sibling of
 * instant_ixgbe.ts: a register file (a {@link RegisterSpace} over a
 * Uint32Array, read and written with Atomics like our MmioRegion on a real
 * BAR0) plus the device's half of the legacy descriptor rings, done as fast
 * as possible, so a benchmark measures the driver.
 *
 * It sees only registers and ring memory. {@link InstantE1000Device.receive}
 * writes receive descriptors back between RDH and RDT (8254x SDM 3.2.3:
 * length in word 2, status with DD and EOP in word 3) and moves RDH;
 * {@link InstantE1000Device.transmit} sets DD in every transmit descriptor
 * between TDH and TDT (3.3.3.2) and moves TDH. It copies no packet bytes and
 * keeps no statistics counters.
 *
 * Registers it gives meaning to, for the driver's bring-up: CTRL.RST clears
 * at once (and resets everything); STATUS reads "link up, 1000 Mbit/s";
 * RAL/RAH(0) hold a MAC address with AV set. Everything else reads back what
 * was written.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { SimulatedDmaAllocator } from "./dma_allocator.ts";
import {
  E1000_CTRL,
  E1000_CTRL_BITS,
  E1000_RAH,
  E1000_RAH_AV,
  E1000_RAL,
  E1000_RDBAH,
  E1000_RDBAL,
  E1000_RDH,
  E1000_RDLEN,
  E1000_RDT,
  E1000_RX_DESC as RXD,
  E1000_RXD_STAT,
  E1000_STATUS,
  E1000_STATUS_BITS,
  E1000_TDBAH,
  E1000_TDBAL,
  E1000_TDH,
  E1000_TDLEN,
  E1000_TDT,
  E1000_TX_DESC as TXD,
  E1000_TXD,
} from "../../drivers/e1000/constants.ts";

/** BAR0 of an 8254x is 128 KiB (8254x SDM 13.1, memory register space). */
const BAR0_BYTES = 128 * 1024;
const TWO_TO_32 = 0x1_0000_0000;
/** STATUS.SPEED = 10b: 1000 Mbit/s (13.4.2). */
const SPEED_1000 = 0b10 << E1000_STATUS_BITS.SPEED_SHIFT;

/** See the module documentation. */
export class InstantE1000Device implements RegisterSpace {
  /** DMA memory for the driver: plain shared memory with made-up addresses. */
  readonly dma: SimulatedDmaAllocator = new SimulatedDmaAllocator();
  /** The register file, by 32-bit word (byte offset / 4). */
  readonly regs: Uint32Array = new Uint32Array(new SharedArrayBuffer(BAR0_BYTES));
  // Ring views, resolved from RDBAL/RDBAH/RDLEN (TD*) on first use.
  #rxRing: Uint32Array | undefined;
  #txRing: Uint32Array | undefined;

  /** A device just out of reset, MAC 02:69:78:79:e1:00. */
  constructor() {
    this.#powerOn();
  }

  #powerOn(): void {
    const r = this.regs;
    r.fill(0);
    r[E1000_STATUS >>> 2] = E1000_STATUS_BITS.LU | E1000_STATUS_BITS.FD | SPEED_1000;
    r[E1000_RAL(0) >>> 2] = 0x79786902;
    r[E1000_RAH(0) >>> 2] = (E1000_RAH_AV | 0x00e1) >>> 0;
    this.#rxRing = this.#txRing = undefined;
  }

  /** One 32-bit register read. */
  read32(offset: number): number {
    return Atomics.load(this.regs, offset >>> 2);
  }

  /** One 32-bit register write; CTRL.RST resets the device at once. */
  write32(offset: number, value: number): void {
    if (offset === E1000_CTRL && (value & E1000_CTRL_BITS.RST) !== 0) {
      this.#powerOn();
      value = (value & ~E1000_CTRL_BITS.RST) >>> 0;
    }
    if (offset === E1000_STATUS) return; // read only
    Atomics.store(this.regs, offset >>> 2, value);
  }

  /**
   * Receives up to `max` frames of `length` bytes: writes back every
   * descriptor from RDH up to (not including) RDT, the ones the driver gave
   * us (3.2.6), and advances RDH. Returns the number written back.
   */
  receive(length: number, max = 0xffff): number {
    const ring = this.#rxRing ??= this.#ring(E1000_RDBAL, E1000_RDBAH, E1000_RDLEN);
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[E1000_RDH >>> 2];
    const tail = Atomics.load(r, E1000_RDT >>> 2);
    let n = 0;
    while (head !== tail && n < max) {
      const w = head << 2;
      ring[w + RXD.LENGTH_CSUM] = length; // checksum 0
      // Status last, as the hardware does; a plain store (same thread), as
      // in instant_ixgbe.ts.
      ring[w + RXD.STATUS_ERRORS] = E1000_RXD_STAT.DD | E1000_RXD_STAT.EOP;
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, E1000_RDH >>> 2, head);
    return n;
  }

  /** "Sends" every queued frame: DD into each descriptor up to TDT, TDH moves. */
  transmit(): number {
    const ring = this.#txRing ??= this.#ring(E1000_TDBAL, E1000_TDBAH, E1000_TDLEN);
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[E1000_TDH >>> 2];
    const tail = Atomics.load(r, E1000_TDT >>> 2);
    let n = 0;
    while (head !== tail) {
      ring[(head << 2) + TXD.STA_CSS_SPECIAL] = E1000_TXD.STA_DD; // plain: same thread
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, E1000_TDH >>> 2, head);
    return n;
  }

  /** The ring memory the driver programmed into a base/length register triple. */
  #ring(bal: number, bah: number, len: number): Uint32Array {
    const r = this.regs;
    const phys = r[bal >>> 2] + r[bah >>> 2] * TWO_TO_32;
    const bytes = r[len >>> 2];
    const mem = this.dma.translate(phys, bytes);
    if (mem === undefined || bytes === 0) {
      throw new Error(`Ring at 0x${phys.toString(16)} (${bytes} bytes) is not DMA memory`);
    }
    return new Uint32Array(mem.buffer, mem.offset, bytes >>> 2);
  }
}

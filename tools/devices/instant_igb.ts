/**
 * An "instant" Intel 82576 for benchmarks — instant_ixgbe.ts at the 82576's
 * offsets: a register file (a plain
 * {@link RegisterSpace} over a Uint32Array, read and written with Atomics like
 * our MmioRegion on a real BAR0) plus the device's half of the descriptor
 * rings, done as fast as possible, so a benchmark measures the driver.
 *
 * It is not a mock of our driver: it sees only registers and ring memory.
 * {@link InstantIgbDevice.receive} writes receive descriptors back between
 * RDH and RDT (7.1.5 write-back format: status word with DD and EOP, length)
 * and moves RDH; {@link InstantIgbDevice.transmit} sets DD in every transmit
 * descriptor between TDH and TDT (7.2.2 write-back) and moves TDH. It copies
 * no packet bytes and keeps no statistics counters.
 *
 * Registers it gives meaning to, for the driver's bring-up: CTRL.RST clears
 * at once; EEC.Auto_RD reads 1; STATUS reads "link up, 1000 Mbit/s" (and
 * GIO_MASTER_ENABLE 0: no DMA pending); an MDIC command completes at once
 * (Ready); RAL/RAH(0) hold a MAC address. Everything else reads back what was
 * written (RXDCTL/TXDCTL.ENABLE thus "take effect" at once).
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { SimulatedDmaAllocator } from "./dma_allocator.ts";
import {
  IGB_ADV_RX_DESC as RXD,
  IGB_ADV_TX_DESC as TXD,
  IGB_ADVTXD,
  IGB_CTRL,
  IGB_CTRL_BITS,
  IGB_EEC,
  IGB_EEC_AUTO_RD,
  IGB_MDIC,
  IGB_MDIC_BITS,
  IGB_RAH,
  IGB_RAH_AV,
  IGB_RAL,
  IGB_RDBAH,
  IGB_RDBAL,
  IGB_RDH,
  IGB_RDLEN,
  IGB_RDT,
  IGB_RXDADV_STAT,
  IGB_STATUS,
  IGB_STATUS_BITS,
  IGB_TDBAH,
  IGB_TDBAL,
  IGB_TDH,
  IGB_TDLEN,
  IGB_TDT,
} from "../../drivers/igb/constants.ts";

/** BAR0 of an 82576 is 128 KiB. */
const BAR0_BYTES = 128 * 1024;
const TWO_TO_32 = 0x1_0000_0000;

/** See the module documentation. */
export class InstantIgbDevice implements RegisterSpace {
  /** DMA memory for the driver: plain shared memory with made-up addresses. */
  readonly dma: SimulatedDmaAllocator = new SimulatedDmaAllocator();
  /** The register file, by 32-bit word (byte offset / 4). */
  readonly regs: Uint32Array = new Uint32Array(new SharedArrayBuffer(BAR0_BYTES));
  // Ring views, resolved from RDBAL/RDBAH/RDLEN (TD*) on first use of queue 0.
  #rxRing: Uint32Array | undefined;
  #txRing: Uint32Array | undefined;

  /** A device just out of reset, MAC 02:69:78:79:be:03. */
  constructor() {
    this.#powerOn();
  }

  #powerOn(): void {
    const r = this.regs;
    r.fill(0);
    r[IGB_EEC >>> 2] = IGB_EEC_AUTO_RD;
    r[IGB_STATUS >>> 2] = IGB_STATUS_BITS.LU | IGB_STATUS_BITS.SPEED_1000;
    r[IGB_RAL(0) >>> 2] = 0x79786902;
    r[IGB_RAH(0) >>> 2] = (IGB_RAH_AV | 0x03be) >>> 0;
    this.#rxRing = this.#txRing = undefined;
  }

  /** One 32-bit register read. */
  read32(offset: number): number {
    return Atomics.load(this.regs, offset >>> 2);
  }

  /** One 32-bit register write; CTRL.RST resets the device, an MDIC command is done, at once. */
  write32(offset: number, value: number): void {
    if (offset === IGB_CTRL && (value & IGB_CTRL_BITS.RST) !== 0) {
      this.#powerOn();
      value = (value & ~IGB_CTRL_BITS.RST) >>> 0;
    }
    if (offset === IGB_MDIC) value = (value | IGB_MDIC_BITS.READY) >>> 0;
    Atomics.store(this.regs, offset >>> 2, value);
  }

  /**
   * Receives up to `max` frames of `length` bytes on queue 0: writes back
   * every descriptor from RDH up to (not including) RDT, the ones the driver
   * gave us, and advances RDH. Returns the number written back.
   */
  receive(length: number, max = 0xffff): number {
    const ring = this.#rxRing ??= this.#ring(IGB_RDBAL(0), IGB_RDBAH(0), IGB_RDLEN(0));
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[IGB_RDH(0) >>> 2];
    const tail = Atomics.load(r, IGB_RDT(0) >>> 2);
    let n = 0;
    while (head !== tail && n < max) {
      const w = head << 2;
      ring[w + 0] = 0; // packet type / RSS info: none
      ring[w + 1] = 0; // RSS hash: none
      ring[w + RXD.WB_LENGTH] = length;
      // The status word last, as the hardware does: it makes the rest valid.
      // A plain store: the "device" runs in the driver's thread, so program
      // order is all the ordering there is to get; an Atomics.store (an xchg
      // on x86) would only add device cost to the measurement.
      ring[w + RXD.WB_STATUS_ERROR] = IGB_RXDADV_STAT.DD | IGB_RXDADV_STAT.EOP;
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, IGB_RDH(0) >>> 2, head);
    return n;
  }

  /** "Sends" every queued frame of queue 0: DD into each descriptor up to TDT, TDH moves. */
  transmit(): number {
    const ring = this.#txRing ??= this.#ring(IGB_TDBAL(0), IGB_TDBAH(0), IGB_TDLEN(0));
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[IGB_TDH(0) >>> 2];
    const tail = Atomics.load(r, IGB_TDT(0) >>> 2);
    let n = 0;
    while (head !== tail) {
      ring[(head << 2) + TXD.OLINFO_STATUS] = IGB_ADVTXD.STAT_DD; // plain: same thread
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, IGB_TDH(0) >>> 2, head);
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

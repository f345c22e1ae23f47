/**
 * An "instant" Intel 82599 for benchmarks: a register file (a plain
 * {@link RegisterSpace} over a Uint32Array) plus the device's half of the
 * descriptor rings, done as fast as possible, so a benchmark measures the
 * driver. Its accesses are those of the C yardstick's instant device
 * (../shared/bench-c/instant_fwd.c) on the same work: the driver's register
 * writes and the device's tail reads are plain `mov`s, the device publishes
 * RDH/TDH with an `xchg` (`Atomics.store`).
 *
 * It is not a mock of our driver: it sees only registers and ring memory.
 * {@link InstantIxgbeDevice.receive} writes receive descriptors back between
 * RDH and RDT (7.1.6.2 write-back format: status word with DD and EOP, length)
 * and moves RDH; {@link InstantIxgbeDevice.transmit} sets DD in every transmit
 * descriptor between TDH and TDT (7.2.3.2.4 write-back) and moves TDH. It
 * copies no packet bytes and keeps no statistics counters.
 *
 * Registers it gives meaning to, for the driver's bring-up: CTRL.RST and
 * CTRL.LRST clear at once; EEC.ARD and RDRXCTL.DMAIDONE read 1; LINKS reads
 * "up, 10 Gbit/s"; RAL/RAH(0) hold a MAC address. Everything else reads back
 * what was written (RXDCTL/TXDCTL.ENABLE thus "take effect" at once).
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { SimulatedDmaAllocator } from "./dma_allocator.ts";
import {
  IXGBE_ADV_RX_DESC as RXD,
  IXGBE_ADV_TX_DESC as TXD,
  IXGBE_ADVTXD,
  IXGBE_CTRL,
  IXGBE_CTRL_RST_MASK,
  IXGBE_EEC,
  IXGBE_EEC_ARD,
  IXGBE_LINKS,
  IXGBE_LINKS_BITS,
  IXGBE_RAH,
  IXGBE_RAH_AV,
  IXGBE_RAL,
  IXGBE_RDBAH,
  IXGBE_RDBAL,
  IXGBE_RDH,
  IXGBE_RDLEN,
  IXGBE_RDRXCTL,
  IXGBE_RDRXCTL_BITS,
  IXGBE_RDT,
  IXGBE_RXDADV_STAT,
  IXGBE_TDBAH,
  IXGBE_TDBAL,
  IXGBE_TDH,
  IXGBE_TDLEN,
  IXGBE_TDT,
} from "../../drivers/ixgbe/constants.ts";

/** BAR0 of an 82599 is 512 KiB (datasheet 9.3.6.1). */
const BAR0_BYTES = 512 * 1024;
const TWO_TO_32 = 0x1_0000_0000;

/** See the module documentation. */
export class InstantIxgbeDevice implements RegisterSpace {
  /** DMA memory for the driver: plain shared memory with made-up addresses. */
  readonly dma: SimulatedDmaAllocator = new SimulatedDmaAllocator();
  /** The register file, by 32-bit word (byte offset / 4). */
  readonly regs: Uint32Array = new Uint32Array(new SharedArrayBuffer(BAR0_BYTES));
  // Ring views, resolved from RDBAL/RDBAH/RDLEN (TD*) on first use of queue 0.
  #rxRing: Uint32Array | undefined;
  #txRing: Uint32Array | undefined;

  /** A device just out of reset, MAC 02:69:78:79:be:02. */
  constructor() {
    this.#powerOn();
  }

  #powerOn(): void {
    const r = this.regs;
    r.fill(0);
    r[IXGBE_EEC >>> 2] = IXGBE_EEC_ARD;
    r[IXGBE_RDRXCTL >>> 2] = IXGBE_RDRXCTL_BITS.DMAIDONE;
    r[IXGBE_LINKS >>> 2] = IXGBE_LINKS_BITS.UP | IXGBE_LINKS_BITS.SPEED_10G_82599;
    r[IXGBE_RAL(0) >>> 2] = 0x79786902;
    r[IXGBE_RAH(0) >>> 2] = (IXGBE_RAH_AV | 0x02be) >>> 0;
    this.#rxRing = this.#txRing = undefined;
  }

  /** One 32-bit register read. */
  read32(offset: number): number {
    return Atomics.load(this.regs, offset >>> 2);
  }

  /**
   * One 32-bit register write; CTRL.RST resets the device at once.
   *
   * A plain store, the driver's doorbell (RDT/TDT) included: upstream C ixy's
   * `set_reg32` is a volatile store, one `mov`, and the C yardstick's instant
   * device takes it as that (../shared/bench-c). `Atomics.store` here would be
   * a builtin call and an `xchg` per tail write that C does not pay on the
   * same work (-7 ns per packet at batch 1, ~0 at batch 32:
   * docs/performance.md, change 5). On a real BAR the driver's
   * MmioRegion.write32 stays an `Atomics.store` (src/mmio.ts): that cost is
   * real there, once per batch.
   */
  write32(offset: number, value: number): void {
    if (offset === IXGBE_CTRL && (value & IXGBE_CTRL_RST_MASK) !== 0) {
      this.#powerOn();
      value = (value & ~IXGBE_CTRL_RST_MASK) >>> 0;
    }
    this.regs[offset >>> 2] = value;
  }

  /**
   * Receives up to `max` frames of `length` bytes on queue 0: writes back
   * every descriptor from RDH up to (not including) RDT, the ones the driver
   * gave us (7.1.9), and advances RDH. Returns the number written back.
   */
  receive(length: number, max = 0xffff): number {
    const ring = this.#rxRing ??= this.#ring(IXGBE_RDBAL(0), IXGBE_RDBAH(0), IXGBE_RDLEN(0));
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[IXGBE_RDH(0) >>> 2];
    // A plain load, as the C device's __atomic_load (a mov): the driver
    // wrote RDT in this thread. Atomics.load would be a builtin call (~7 ns).
    const tail = r[IXGBE_RDT(0) >>> 2];
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
      ring[w + RXD.WB_STATUS_ERROR] = IXGBE_RXDADV_STAT.DD | IXGBE_RXDADV_STAT.EOP;
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, IXGBE_RDH(0) >>> 2, head);
    return n;
  }

  /** "Sends" every queued frame of queue 0: DD into each descriptor up to TDT, TDH moves. */
  transmit(): number {
    const ring = this.#txRing ??= this.#ring(IXGBE_TDBAL(0), IXGBE_TDBAH(0), IXGBE_TDLEN(0));
    const mask = (ring.length >>> 2) - 1;
    const r = this.regs;
    let head = r[IXGBE_TDH(0) >>> 2];
    const tail = r[IXGBE_TDT(0) >>> 2]; // plain, as RDT in receive()
    let n = 0;
    while (head !== tail) {
      ring[(head << 2) + TXD.OLINFO_STATUS] = IXGBE_ADVTXD.STAT_DD; // plain: same thread
      head = (head + 1) & mask;
      n++;
    }
    Atomics.store(r, IXGBE_TDH(0) >>> 2, head);
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

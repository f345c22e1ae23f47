/**
 * The device half of the rings, one write-back at a time, so a test or the
 * fuzzer (./fuzz.ts) can make the device lie: any status, any length, any
 * used-ring id, any order, any used index.
 *
 * They sit on top of the benchmarks' instant devices (tools/bench/), which
 * stay untouched — those are the benchmarks' yardstick. From an instant
 * device they take only what a device has: the registers (bring-up, ring
 * addresses, head and tail) and the ring memory at the addresses the driver
 * programmed. Never call the instant device's own `receive`/`transmit`
 * (`complete` for virtio) on a device wrapped here: both would then keep
 * their own idea of the ring.
 *
 * @module
 */

import type { InstantIxgbeDevice } from "../bench/instant_ixgbe.ts";
import type { InstantVirtioDevice } from "../bench/instant_virtio.ts";
import {
  IXGBE_ADV_RX_DESC as RXD,
  IXGBE_ADV_TX_DESC as TXD,
  IXGBE_RDBAH,
  IXGBE_RDBAL,
  IXGBE_RDH,
  IXGBE_RDLEN,
  IXGBE_RDT,
  IXGBE_TDBAH,
  IXGBE_TDBAL,
  IXGBE_TDH,
  IXGBE_TDLEN,
  IXGBE_TDT,
} from "../../drivers/ixgbe/constants.ts";
import {
  VIRTIO_PCI,
  VIRTIO_PCI_QUEUE_ADDR_SHIFT,
  VIRTIO_PCI_VRING_ALIGN,
} from "../../drivers/virtio/constants.ts";

const TWO_TO_32 = 0x1_0000_0000;

/** Queue 0 of an 82599, the device's side, one descriptor at a time. */
export class LyingIxgbe {
  readonly #dev: InstantIxgbeDevice;
  #rx: Uint32Array | undefined;
  #tx: Uint32Array | undefined;

  /** Wraps `dev` (after the driver's bring-up). */
  constructor(dev: InstantIxgbeDevice) {
    this.#dev = dev;
  }

  /** Descriptors in the receive ring. */
  get rxSize(): number {
    return this.#rxRing().length >>> 2;
  }

  /**
   * Takes the receive descriptor at RDH if the driver gave it to us (RDH !=
   * RDT, 7.1.9) and moves RDH on; returns its index, or -1 if none. Nothing
   * is written back yet: see {@link writeBackRx}.
   */
  takeRx(): number {
    const ring = this.#rxRing();
    return this.#take(IXGBE_RDH(0), IXGBE_RDT(0), (ring.length >>> 2) - 1);
  }

  /** Writes back receive descriptor `index` (7.1.6.2): length, then the status word. */
  writeBackRx(index: number, status: number, length: number): void {
    const ring = this.#rxRing();
    const w = index << 2;
    ring[w + 0] = 0;
    ring[w + 1] = 0;
    ring[w + RXD.WB_LENGTH] = length >>> 0;
    ring[w + RXD.WB_STATUS_ERROR] = status >>> 0;
  }

  /** Takes the transmit descriptor at TDH if queued (TDH != TDT); its index or -1. */
  takeTx(): number {
    const ring = this.#txRing();
    return this.#take(IXGBE_TDH(0), IXGBE_TDT(0), (ring.length >>> 2) - 1);
  }

  /** Writes `status` (DD = bit 0) into transmit descriptor `index` (7.2.3.2.4 write-back). */
  writeBackTx(index: number, status: number): void {
    this.#txRing()[(index << 2) + TXD.OLINFO_STATUS] = status >>> 0;
  }

  #take(headReg: number, tailReg: number, mask: number): number {
    const r = this.#dev.regs;
    const head = Atomics.load(r, headReg >>> 2);
    if (head === Atomics.load(r, tailReg >>> 2)) return -1;
    Atomics.store(r, headReg >>> 2, (head + 1) & mask);
    return head;
  }

  #rxRing(): Uint32Array {
    return this.#rx ??= this.#ring(IXGBE_RDBAL(0), IXGBE_RDBAH(0), IXGBE_RDLEN(0));
  }

  #txRing(): Uint32Array {
    return this.#tx ??= this.#ring(IXGBE_TDBAL(0), IXGBE_TDBAH(0), IXGBE_TDLEN(0));
  }

  #ring(bal: number, bah: number, len: number): Uint32Array {
    const r = this.#dev.regs;
    const phys = r[bal >>> 2] + r[bah >>> 2] * TWO_TO_32;
    const bytes = r[len >>> 2];
    const mem = this.#dev.dma.translate(phys, bytes);
    if (mem === undefined || bytes === 0) throw new Error("ring is not DMA memory: attach first");
    return new Uint32Array(mem.buffer, mem.offset, bytes >>> 2);
  }
}

/** One split virtqueue seen from the device (legacy layout, virtio 1.1 section 2.6.2). */
class DeviceSide {
  readonly size: number;
  readonly avail: Uint16Array;
  readonly usedHeader: Uint16Array;
  readonly usedRing: Uint32Array;
  /** Next avail.idx we consume. */
  lastAvail = 0;
  /** Our used.idx: entries written so far (published or not). */
  usedIdx = 0;

  constructor(buffer: ArrayBufferLike, offset: number, size: number) {
    const align = (n: number) => Math.ceil(n / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN;
    const usedOffset = offset + align(16 * size + 2 * (3 + size));
    this.size = size;
    this.avail = new Uint16Array(buffer, offset + 16 * size, 3 + size);
    this.usedHeader = new Uint16Array(buffer, usedOffset, 2);
    this.usedRing = new Uint32Array(buffer, usedOffset + 4, 2 * size);
    // Start where the used ring is (the instant device may have used it).
    this.usedIdx = this.usedHeader[1];
    this.lastAvail = this.usedIdx;
  }
}

/** The RX and TX virtqueues of a legacy virtio-net device, the device's side. */
export class LyingVirtio {
  readonly #dev: InstantVirtioDevice;
  readonly #queues: (DeviceSide | undefined)[] = [];

  /** Wraps `dev` (after the driver's bring-up). */
  constructor(dev: InstantVirtioDevice) {
    this.#dev = dev;
  }

  /** Entries of queue `q`. */
  size(q: number): number {
    return this.#queue(q).size;
  }

  /** Takes the next available descriptor id of queue `q` (2.6.6), or -1 if none. */
  take(q: number): number {
    const s = this.#queue(q);
    if (s.lastAvail === Atomics.load(s.avail, 1)) return -1;
    const id = s.avail[2 + (s.lastAvail & (s.size - 1))];
    s.lastAvail = (s.lastAvail + 1) & 0xffff;
    return id;
  }

  /** Writes used entry `{id, len}` into the next slot (2.6.8), not yet published. */
  put(q: number, id: number, len: number): void {
    const s = this.#queue(q);
    const slot = (s.usedIdx & (s.size - 1)) << 1;
    s.usedRing[slot] = id >>> 0;
    s.usedRing[slot + 1] = len >>> 0;
    s.usedIdx = (s.usedIdx + 1) & 0xffff;
  }

  /** Publishes the entries written so far: used.idx = our index. */
  publish(q: number): void {
    const s = this.#queue(q);
    Atomics.store(s.usedHeader, 1, s.usedIdx);
  }

  /** Publishes a used.idx `delta` away from the true one (undo with {@link publish}). */
  publishJump(q: number, delta: number): void {
    const s = this.#queue(q);
    Atomics.store(s.usedHeader, 1, (s.usedIdx + delta) & 0xffff);
  }

  #queue(q: number): DeviceSide {
    let s = this.#queues[q];
    if (s === undefined) {
      const dev = this.#dev;
      dev.write16(VIRTIO_PCI.QUEUE_SEL, q);
      const pfn = dev.read32(VIRTIO_PCI.QUEUE_PFN);
      const size = dev.read16(VIRTIO_PCI.QUEUE_NUM);
      const mem = dev.dma.translate(pfn * 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT, 1);
      if (mem === undefined || size === 0) throw new Error(`queue ${q} not set up: attach first`);
      s = this.#queues[q] = new DeviceSide(mem.buffer, mem.offset, size);
    }
    return s;
  }
}

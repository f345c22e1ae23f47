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
 * The three Intel families share one {@link LyingIntel}: their rings work
 * alike (16-byte descriptors; the device owns head to tail, moves the head
 * and sets DD in what it finished) and differ only in where the registers
 * are and which descriptor word holds what ({@link IntelRingLayout}).
 *
 * @module
 */

import {
  IXGBE_ADV_RX_DESC,
  IXGBE_ADV_TX_DESC,
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
  IGB_ADV_RX_DESC,
  IGB_ADV_TX_DESC,
  IGB_RDBAH,
  IGB_RDBAL,
  IGB_RDH,
  IGB_RDLEN,
  IGB_RDT,
  IGB_TDBAH,
  IGB_TDBAL,
  IGB_TDH,
  IGB_TDLEN,
  IGB_TDT,
} from "../../drivers/igb/constants.ts";
import {
  E1000_RDBAH,
  E1000_RDBAL,
  E1000_RDH,
  E1000_RDLEN,
  E1000_RDT,
  E1000_RX_DESC,
  E1000_TDBAH,
  E1000_TDBAL,
  E1000_TDH,
  E1000_TDLEN,
  E1000_TDT,
  E1000_TX_DESC,
} from "../../drivers/e1000/constants.ts";
import type { InstantVirtioDevice } from "../devices/instant_virtio.ts";
import {
  VIRTIO_PCI,
  VIRTIO_PCI_QUEUE_ADDR_SHIFT,
  VIRTIO_PCI_VRING_ALIGN,
} from "../../drivers/virtio/constants.ts";

const TWO_TO_32 = 0x1_0000_0000;

/**
 * Where an Intel NIC keeps queue 0's ring registers, and which 32-bit word of
 * a 16-byte descriptor the device writes what into.
 */
export interface IntelRingLayout {
  /** Receive ring: base low/high, length in bytes, head, tail. */
  readonly rdbal: number;
  readonly rdbah: number;
  readonly rdlen: number;
  readonly rdh: number;
  readonly rdt: number;
  /** Transmit ring: base low/high, length in bytes, head, tail. */
  readonly tdbal: number;
  readonly tdbah: number;
  readonly tdlen: number;
  readonly tdh: number;
  readonly tdt: number;
  /** Receive write-back: the word with the length in bits 15:0. */
  readonly rxLengthWord: number;
  /** Receive write-back: the word with DD, which the device writes last. */
  readonly rxStatusWord: number;
  /** Receive write-back: the other words the device overwrites (we write 0). */
  readonly rxOtherWords: readonly number[];
  /** Transmit write-back: the word with DD (bit 0). */
  readonly txStatusWord: number;
}

/**
 * 82599, queue 0, advanced descriptors (datasheet 7.1.6.2 receive
 * write-back: words 0-1 packet info and RSS hash, word 2 extended
 * status/error, word 3 length and VLAN tag; 7.2.3.2.4 transmit write-back:
 * DD in word 3).
 */
export const IXGBE_RING: IntelRingLayout = {
  rdbal: IXGBE_RDBAL(0),
  rdbah: IXGBE_RDBAH(0),
  rdlen: IXGBE_RDLEN(0),
  rdh: IXGBE_RDH(0),
  rdt: IXGBE_RDT(0),
  tdbal: IXGBE_TDBAL(0),
  tdbah: IXGBE_TDBAH(0),
  tdlen: IXGBE_TDLEN(0),
  tdh: IXGBE_TDH(0),
  tdt: IXGBE_TDT(0),
  rxLengthWord: IXGBE_ADV_RX_DESC.WB_LENGTH,
  rxStatusWord: IXGBE_ADV_RX_DESC.WB_STATUS_ERROR,
  rxOtherWords: [0, 1],
  txStatusWord: IXGBE_ADV_TX_DESC.WB_STATUS,
};

/**
 * 82576, queue 0: the 82599's advanced descriptors at the 82576's register
 * offsets (datasheet 7.1.5 receive write-back, same words as the 82599's;
 * 7.2.2 transmit write-back: DD in word 3).
 */
export const IGB_RING: IntelRingLayout = {
  rdbal: IGB_RDBAL(0),
  rdbah: IGB_RDBAH(0),
  rdlen: IGB_RDLEN(0),
  rdh: IGB_RDH(0),
  rdt: IGB_RDT(0),
  tdbal: IGB_TDBAL(0),
  tdbah: IGB_TDBAH(0),
  tdlen: IGB_TDLEN(0),
  tdh: IGB_TDH(0),
  tdt: IGB_TDT(0),
  rxLengthWord: IGB_ADV_RX_DESC.WB_LENGTH,
  rxStatusWord: IGB_ADV_RX_DESC.WB_STATUS_ERROR,
  rxOtherWords: [0, 1],
  txStatusWord: IGB_ADV_TX_DESC.WB_STATUS,
};

/**
 * 8254x, legacy descriptors (SDM 3.2.3: word 2 length and packet checksum,
 * word 3 status, errors and special; the buffer address in words 0-1 stays,
 * the device writes one layout for both directions; 3.3.3: transmit DD in
 * word 3, STA bit 0).
 */
export const E1000_RING: IntelRingLayout = {
  rdbal: E1000_RDBAL,
  rdbah: E1000_RDBAH,
  rdlen: E1000_RDLEN,
  rdh: E1000_RDH,
  rdt: E1000_RDT,
  tdbal: E1000_TDBAL,
  tdbah: E1000_TDBAH,
  tdlen: E1000_TDLEN,
  tdh: E1000_TDH,
  tdt: E1000_TDT,
  rxLengthWord: E1000_RX_DESC.LENGTH_CSUM,
  rxStatusWord: E1000_RX_DESC.STATUS_ERRORS,
  rxOtherWords: [],
  txStatusWord: E1000_TX_DESC.STA_CSS_SPECIAL,
};

/** What {@link LyingIntel} needs of an instant device: its register file and DMA memory. */
export interface IntelRegistersAndDma {
  /** The register file, by 32-bit word (byte offset / 4). */
  readonly regs: Uint32Array;
  /** The driver's DMA memory, by device address. */
  readonly dma: {
    translate(
      phys: number,
      length: number,
    ): { buffer: ArrayBufferLike; offset: number } | undefined;
  };
}

/** Queue 0 of an Intel NIC (82599, 82576, 8254x), the device's side, one descriptor at a time. */
export class LyingIntel {
  readonly #dev: IntelRegistersAndDma;
  readonly #layout: IntelRingLayout;
  #rx: Uint32Array | undefined;
  #tx: Uint32Array | undefined;

  /** Wraps `dev` (after the driver's bring-up), whose rings are laid out as `layout`. */
  constructor(dev: IntelRegistersAndDma, layout: IntelRingLayout) {
    this.#dev = dev;
    this.#layout = layout;
  }

  /** Descriptors in the receive ring. */
  get rxSize(): number {
    return this.#rxRing().length >>> 2;
  }

  /**
   * Takes the receive descriptor at RDH if the driver gave it to us (RDH !=
   * RDT: 82599 7.1.9, 8254x SDM 3.2.6) and moves RDH on; returns its index,
   * or -1 if none. Nothing is written back yet: see {@link writeBackRx}.
   */
  takeRx(): number {
    const l = this.#layout;
    return this.#take(l.rdh, l.rdt, (this.#rxRing().length >>> 2) - 1);
  }

  /**
   * Writes back receive descriptor `index`: the other write-back words (0),
   * the length word, then the status word — each a whole 32-bit word, so
   * the upper halves (VLAN tag, checksum, special) are the caller's too.
   */
  writeBackRx(index: number, status: number, length: number): void {
    const ring = this.#rxRing();
    const l = this.#layout;
    const w = index << 2;
    for (const o of l.rxOtherWords) ring[w + o] = 0;
    ring[w + l.rxLengthWord] = length >>> 0;
    ring[w + l.rxStatusWord] = status >>> 0;
  }

  /** Takes the transmit descriptor at TDH if queued (TDH != TDT); its index or -1. */
  takeTx(): number {
    const l = this.#layout;
    return this.#take(l.tdh, l.tdt, (this.#txRing().length >>> 2) - 1);
  }

  /** Writes `status` (DD = bit 0) into the transmit write-back word of descriptor `index`. */
  writeBackTx(index: number, status: number): void {
    this.#txRing()[(index << 2) + this.#layout.txStatusWord] = status >>> 0;
  }

  #take(headReg: number, tailReg: number, mask: number): number {
    const r = this.#dev.regs;
    const head = Atomics.load(r, headReg >>> 2);
    if (head === Atomics.load(r, tailReg >>> 2)) return -1;
    Atomics.store(r, headReg >>> 2, (head + 1) & mask);
    return head;
  }

  #rxRing(): Uint32Array {
    const l = this.#layout;
    return this.#rx ??= this.#ring(l.rdbal, l.rdbah, l.rdlen);
  }

  #txRing(): Uint32Array {
    const l = this.#layout;
    return this.#tx ??= this.#ring(l.tdbal, l.tdbah, l.tdlen);
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

/** {@link LyingIntel} with the 82599's layout (the tests written before igb and e1000 joined). */
export class LyingIxgbe extends LyingIntel {
  /** Wraps `dev` (after the driver's bring-up). */
  constructor(dev: IntelRegistersAndDma) {
    super(dev, IXGBE_RING);
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

/**
 * A split virtqueue in DMA memory, legacy layout (virtio 1.1, section 2.6 and
 * 2.6.2 "Legacy Interfaces: A Note on Virtqueue Layout"):
 *
 *     offset 0                 descriptor table: size × 16 bytes
 *                                { addr u64, len u32, flags u16, next u16 }
 *     offset 16·size           available ring (driver → device):
 *                                { flags u16, idx u16, ring[size] u16, used_event u16 }
 *     (padding to 4096)
 *     offset usedOffset        used ring (device → driver):
 *                                { flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16 }
 *
 * The driver puts a descriptor's index into the available ring and advances
 * `avail.idx`; the device consumes it, writes `{id, len}` into the used ring
 * and advances `used.idx`. Both indices run freely from 0 to 65535 and wrap;
 * the ring slot is `idx % size` (sizes are powers of two).
 *
 * All fields are little-endian, like x86 and our typed arrays.
 *
 * Memory ordering: the ring is memory shared with a device, which the
 * JavaScript memory model knows nothing about. Each step's barrier and what
 * provides it on x86-64 is in the table of src/mmio.ts; here, in short:
 * descriptors before avail.idx, avail.idx before reading used.flags and
 * notifying ({@link Virtqueue.publishAvailable}: an `xchg`), used.idx before
 * the used entries ({@link Virtqueue.deviceUsedIdx}).
 *
 * @module
 */

import { type DmaAllocator, type DmaMemory, hi32, lo32 } from "../../src/memory.ts";
import type { PktBuf } from "../../src/mempool.ts";
import { IxyError } from "../../src/error.ts";
import { VIRTIO_PCI_VRING_ALIGN } from "./constants.ts";

/** Byte offsets of the three parts of a legacy virtqueue with `size` entries. */
export function virtqueueLayout(size: number): {
  availOffset: number;
  usedOffset: number;
  totalBytes: number;
} {
  const align = (n: number) => Math.ceil(n / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN;
  const availOffset = 16 * size;
  const usedOffset = align(availOffset + 2 * (3 + size));
  const totalBytes = usedOffset + align(2 * 3 + 8 * size);
  return { availOffset, usedOffset, totalBytes };
}

/** One virtqueue and the driver's bookkeeping for it. */
export class Virtqueue {
  /** Queue index (0 = receive, 1 = transmit, 2 = control for a network device). */
  readonly index: number;
  /** Number of entries, as the device reported it. */
  readonly size: number;
  /** The DMA memory holding the rings (plus any extra bytes asked for). */
  readonly memory: DmaMemory;
  /** Descriptor table as 32-bit words: [addr lo, addr hi, len, flags | next << 16]. */
  readonly desc: Uint32Array;
  /** Available ring as 16-bit words: [flags, idx, ring[0..size), used_event]. */
  readonly avail: Uint16Array;
  /** Used ring header as 16-bit words: [flags, idx]. */
  readonly usedHeader: Uint16Array;
  /** Used ring entries as 32-bit words: [id, len] per entry. */
  readonly usedRing: Uint32Array;
  /** The packet buffer each descriptor currently points at (undefined if none). */
  readonly bufs: (PktBuf | undefined)[];
  /**
   * Which descriptors the device holds, for checking its used-ring entries:
   * 0 = never made available; otherwise the {@link epoch} of the publication
   * that handed it over ({@link pushAvailable} stamps it; the receive path
   * re-stamps a descriptor as it re-posts it). A used entry may name
   * descriptor `id` only if `deviceOwns[id]` is neither 0 (never given) nor
   * {@link epoch} (returned already and re-posted, not yet published: a
   * duplicate). The transmit path tells by `bufs[id]` instead.
   */
  readonly deviceOwns: Uint32Array;
  /**
   * Number of the next publication; {@link publishAvailable} moves it on,
   * 1..2^30 and around (kept a small integer for V8; it could only be
   * mistaken for an old stamp by a descriptor held for 2^30 publications).
   */
  epoch = 1;
  /** Our copy of avail.idx: the next slot we fill. */
  availIdx = 0;
  /** The used.idx value up to which we have processed entries. */
  lastUsedIdx = 0;
  // Free descriptor indices (a stack).
  #free: Uint16Array;
  #freeTop: number;

  /**
   * Allocates a queue of `size` entries; `extraBytes` more are reserved after
   * the rings (the control queue keeps its command buffer there).
   */
  constructor(dma: DmaAllocator, options: { index: number; size: number; extraBytes?: number }) {
    const { index, size } = options;
    if (size === 0 || (size & (size - 1)) !== 0) {
      throw new IxyError(`Virtqueue ${index} has size ${size}: expected a power of two.`);
    }
    const layout = virtqueueLayout(size);
    this.index = index;
    this.size = size;
    // One physically contiguous block: the device computes the rings' addresses
    // from the start address alone (section 2.6.2).
    this.memory = dma.allocate(layout.totalBytes + (options.extraBytes ?? 0), {
      contiguous: true,
    });
    const buffer = this.memory.buffer;
    this.desc = new Uint32Array(buffer, 0, 4 * size);
    this.avail = new Uint16Array(buffer, layout.availOffset, 3 + size);
    this.usedHeader = new Uint16Array(buffer, layout.usedOffset, 2);
    this.usedRing = new Uint32Array(buffer, layout.usedOffset + 4, 2 * size);
    this.bufs = new Array(size).fill(undefined);
    this.deviceOwns = new Uint32Array(size);
    this.#free = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.#free[i] = size - 1 - i;
    this.#freeTop = size;
  }

  /** Byte offset of the extra space after the rings. */
  get extraOffset(): number {
    return virtqueueLayout(this.size).totalBytes;
  }

  /** Number of descriptors not in use. */
  get freeDescriptors(): number {
    return this.#freeTop;
  }

  /** Takes a free descriptor index (caller checks {@link freeDescriptors} first). */
  takeDescriptor(): number {
    return this.#free[--this.#freeTop];
  }

  /** Returns a descriptor index to the free stack. */
  releaseDescriptor(id: number): void {
    this.#free[this.#freeTop++] = id;
  }

  /** Fills descriptor `id` (the 64-bit address as two halves: src/memory.ts, lo32). */
  setDescriptor(id: number, addr: number, len: number, flags: number, next = 0): void {
    const w = id << 2;
    this.desc[w] = lo32(addr);
    this.desc[w + 1] = hi32(addr);
    this.desc[w + 2] = len;
    this.desc[w + 3] = flags | (next << 16);
  }

  /**
   * Fills descriptor `id` with a packet buffer: the address as its two halves
   * ({@link PktBuf.dataPhysLo}, split once per buffer; with the WRITE flag as a
   * module constant of rx.ts this is change 8 of docs/performance.md), no
   * `next`.
   */
  setBufferDescriptor(
    id: number,
    addrLo: number,
    addrHi: number,
    len: number,
    flags: number,
  ): void {
    const w = id << 2;
    this.desc[w] = addrLo;
    this.desc[w + 1] = addrHi;
    this.desc[w + 2] = len;
    this.desc[w + 3] = flags;
  }

  /** Puts descriptor `id` into the next available-ring slot (not yet published). */
  pushAvailable(id: number): void {
    this.deviceOwns[id] = this.epoch;
    this.avail[2 + (this.availIdx & (this.size - 1))] = id;
    this.availIdx = (this.availIdx + 1) & 0xffff;
  }

  /**
   * Publishes the slots pushed so far by writing avail.idx. Ordering
   * (src/mmio.ts, "Memory ordering", for how it was checked):
   *
   * - before it, the descriptor words and available-ring slots must be
   *   visible (section 2.6.13.3: "a memory barrier"; store→store): the JIT
   *   does not move plain stores past `Atomics.store`, and x86 keeps stores
   *   in order;
   * - after it, the driver reads used.flags to decide whether to notify
   *   (section 2.6.13.4; store→load, the one reordering x86 allows): V8's
   *   `Atomics.store` is an `xchg`, a full fence, so that read cannot be
   *   satisfied before the device can see the new index.
   */
  publishAvailable(): void {
    Atomics.store(this.avail, 1, this.availIdx);
    this.epoch = (this.epoch & 0x3fff_ffff) + 1;
  }

  /**
   * The device's used.idx, read fresh from memory each time. The used-ring
   * entries it covers are read after it (load→load, section 2.6.14): x86
   * does not reorder loads with older loads, and V8 keeps typed-array loads
   * in program order and loads again after any store or call in between
   * (tests/unit/plain_load_test.ts spins on such a load while another
   * thread writes it). JavaScript note: a plain load, as ixgbe's DD status
   * (drivers/ixgbe/rx.ts, change 4 of docs/performance.md): `Atomics.load`
   * on this non-shared view is a call of V8's AtomicsLoad builtin for the
   * same `mov`, and at small batches these loads are per packet. What this
   * load, the one of used.flags below and rx.ts's of avail.idx save:
   * docs/performance.md, change 11
   * (tools/bench/ablations/virtio_plain_loads.patch).
   */
  deviceUsedIdx(): number {
    return this.usedHeader[1];
  }

  /**
   * False if `usedIdx`, read from the device, is more than a ring ahead of
   * {@link lastUsedIdx} (or behind it): impossible from a correct device,
   * whose used.idx only moves forward by what was made available (section
   * 2.6.8). The caller takes no entry from such an index.
   */
  usedIdxPlausible(usedIdx: number): boolean {
    return ((usedIdx - this.lastUsedIdx) & 0xffff) <= this.size;
  }

  /**
   * True if the device asked not to be notified (VRING_USED_F_NO_NOTIFY).
   * Read only after {@link publishAvailable}: its `Atomics.store` is a full
   * fence, and V8 does not move a later load above that call, so a plain
   * load here sees the flags as they were after the new avail.idx became
   * visible (section 2.6.13.4).
   */
  deviceSuppressesNotify(): boolean {
    return (this.usedHeader[0] & 1) !== 0;
  }
}

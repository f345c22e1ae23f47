/**
 * Packet buffers: a mempool of fixed-size buffers in DMA memory.
 *
 * Allocating memory per packet is far too slow for a driver, so ixy (like
 * DPDK) carves DMA memory into equal buffers once and recycles them through a
 * free stack. Each buffer starts with a 64-byte header in DMA memory, ixy's
 * `struct pkt_buf`:
 *
 * | offset | size | field                                        |
 * |--------|------|----------------------------------------------|
 * | 0      | 8    | physical address of the buffer (lo, hi)      |
 * | 8      | 8    | id of the mempool it belongs to              |
 * | 16     | 4    | index of the buffer in its mempool           |
 * | 20     | 4    | ixy's packet size; unused here (see `size`)  |
 * | 24     | 40   | headroom (virtio puts its 10-byte net header here) |
 * | 64     | ...  | packet data                                  |
 *
 * In JavaScript each buffer also has one {@link PktBuf} object, created with
 * the pool and reused forever: applications and drivers pass these objects
 * around in preallocated arrays, so the packet path allocates nothing.
 *
 * @module
 */

import type { DmaAllocator, DmaMemory } from "./memory.ts";
import { checkHugePageAlignment, hi32, HUGE_PAGE_SIZE, lo32 } from "./memory.ts";
import { IxyError } from "./error.ts";

/** Size of the buffer header, ixy's `sizeof(struct pkt_buf)`. */
export const PKT_BUF_HEADER = 64;
/** Bytes of headroom just before the data (inside the header). */
export const PKT_BUF_HEADROOM = 40;
/** Default buffer size: one Ethernet frame fits, and 2 MiB / 2048 is whole. */
export const DEFAULT_ENTRY_SIZE = 2048;

const PHYS_LO = 0; // word offsets inside the header
const PHYS_HI = 1;
const POOL_ID = 2;
const INDEX = 4;

let nextPoolId = 1;

/** One packet buffer. Never construct one: a {@link Mempool} owns them all. */
export class PktBuf {
  /** The pool this buffer returns to when freed. */
  readonly pool: Mempool;
  /** Index of the buffer in its pool. */
  readonly index: number;
  /** Device-visible address of the buffer start (the header). */
  readonly physAddr: number;
  /** Byte offset of the buffer in the pool's DMA memory. */
  readonly offset: number;
  /** The packet bytes (the whole data area; the packet is the first {@link size} bytes). */
  readonly data: Uint8Array;
  /** The 40 bytes just before {@link data}, for headers a device wants in front. */
  readonly headroom: Uint8Array;
  /**
   * {@link dataPhysAddr} split as descriptors take it: the low 32 bits (as a
   * signed 32-bit number: a Uint32Array store takes the same bits) and the
   * high 32 bits. JavaScript note: a device address is a double (real ones
   * lie beyond 2^31), and splitting it per packet (`lo32`/`hi32`, a division)
   * cost a heap-number load and the division each time; these two are small
   * integers, split once (docs/performance.md, change 8, has what it saved).
   */
  readonly dataPhysLo: number;
  /** High 32 bits of {@link dataPhysAddr} (see {@link dataPhysLo}). */
  readonly dataPhysHi: number;
  /**
   * Length of the packet in {@link data}. JavaScript note: ixy keeps it in
   * the DMA header (offset 20); a getter/setter pair over that word cost a
   * typed-array load or store behind a call on every use (rxBatch sets it,
   * txBatch reads it). A plain field is one property access
   * (docs/performance.md, change 9, has what it saved). Nothing reads the header's word: the device learns the length
   * from the descriptor.
   */
  size = 0;
  /**
   * The RSS hash the NIC computed for this packet, as a signed 32-bit
   * number (`rssHash >>> 0` is the unsigned value src/rss.ts's
   * `toeplitzHash` returns; `rssHash & 127` indexes the redirection table
   * either way). 0 when {@link rssType} is 0. Set by the drivers on
   * drivers/ixgbe/rx.ts's ring (ixgbe and igb) from the receive write-back
   * (82599 7.1.6.2, 82576 7.1.5.2); the NIC hashes only while it does RSS
   * (more than one RX queue). e1000 and virtio leave 0.
   *
   * JavaScript note: signed, because V8 (Deno 2.9.6) keeps an integer of 32
   * signed bits in the field itself, while an unsigned value from 2^31 up
   * would be a double in a heap box: the field would change representation
   * at the first large hash, throwing away rxBatch's optimised code.
   */
  rssHash = 0;
  /**
   * The RSS type the NIC wrote back with {@link rssHash}: which headers it
   * hashed, one of src/rss.ts's `RSS_TYPE` codes (0 = none: not hashed, RSS
   * off, or a driver that does not report it — e1000, virtio).
   */
  rssType = 0;

  /** @internal Created only by {@link Mempool}. */
  constructor(pool: Mempool, index: number, memory: DmaMemory) {
    this.pool = pool;
    this.index = index;
    this.offset = index * pool.entrySize;
    this.physAddr = memory.physAddr(this.offset);
    this.data = new Uint8Array(
      memory.buffer,
      this.offset + PKT_BUF_HEADER,
      pool.entrySize - PKT_BUF_HEADER,
    );
    this.headroom = new Uint8Array(
      memory.buffer,
      this.offset + PKT_BUF_HEADER - PKT_BUF_HEADROOM,
      PKT_BUF_HEADROOM,
    );
    this.dataPhysLo = lo32(this.physAddr + PKT_BUF_HEADER) | 0;
    this.dataPhysHi = hi32(this.physAddr + PKT_BUF_HEADER);
  }

  /** Device-visible address of the first packet byte. */
  get dataPhysAddr(): number {
    return this.physAddr + PKT_BUF_HEADER;
  }
}

/** Options for {@link Mempool.create}. */
export interface MempoolOptions {
  /** Number of buffers. */
  numEntries: number;
  /** Bytes per buffer including the 64-byte header; must divide 2 MiB. Default 2048. */
  entrySize?: number;
}

/** A pool of packet buffers in DMA memory with O(1) batch alloc and free. */
export class Mempool {
  /** Unique id, written into each buffer header. */
  readonly id: number;
  /** Bytes per buffer, header included. */
  readonly entrySize: number;
  /** Number of buffers. */
  readonly numEntries: number;
  /** All buffers, by index. */
  readonly buffers: readonly PktBuf[];
  // The free stack: indices of free buffers; #top of them are valid.
  #freeStack: Uint32Array;
  #top: number;
  // 1 while a buffer is allocated: catches double frees (a classic driver bug).
  #inUse: Uint8Array;

  private constructor(memory: DmaMemory, numEntries: number, entrySize: number) {
    this.id = nextPoolId++;
    this.entrySize = entrySize;
    this.numEntries = numEntries;
    const words = new Uint32Array(memory.buffer, 0, (numEntries * entrySize) >>> 2);
    const buffers: PktBuf[] = [];
    this.#freeStack = new Uint32Array(numEntries);
    this.#inUse = new Uint8Array(numEntries);
    for (let i = 0; i < numEntries; i++) {
      const buf = new PktBuf(this, i, memory);
      const w = buf.offset >>> 2;
      words[w + PHYS_LO] = lo32(buf.physAddr);
      words[w + PHYS_HI] = hi32(buf.physAddr);
      words[w + POOL_ID] = this.id;
      words[w + INDEX] = i;
      buffers.push(buf);
      // Stack order: buffer 0 is handed out first.
      this.#freeStack[numEntries - 1 - i] = i;
    }
    this.buffers = buffers;
    this.#top = numEntries;
  }

  /** Allocates the pool's memory from `allocator` and carves it into buffers. */
  static create(allocator: DmaAllocator, options: MempoolOptions): Mempool {
    const entrySize = options.entrySize ?? DEFAULT_ENTRY_SIZE;
    const { numEntries } = options;
    if (!Number.isInteger(numEntries) || numEntries < 1) {
      throw new IxyError(`Cannot create a mempool of ${numEntries} buffers: need at least 1.`);
    }
    if (entrySize < PKT_BUF_HEADER + 64 || HUGE_PAGE_SIZE % entrySize !== 0) {
      throw new IxyError(
        `Cannot create a mempool with ${entrySize}-byte buffers: the size must divide ` +
          `${HUGE_PAGE_SIZE} (so no buffer crosses a hugepage) and hold a header and a frame. ` +
          `Use 2048.`,
      );
    }
    const memory = allocator.allocate(numEntries * entrySize, {
      packetBuffers: { entrySize, dataOffset: PKT_BUF_HEADER },
    });
    // Buffers never cross a hugepage only if each page starts at a 2 MiB
    // boundary of the device's address space: check, do not assume.
    const pages: number[] = [];
    for (let off = 0; off < numEntries * entrySize; off += HUGE_PAGE_SIZE) {
      pages.push(memory.physAddr(off));
    }
    checkHugePageAlignment(pages, `a mempool of ${numEntries} × ${entrySize} bytes`);
    return new Mempool(memory, numEntries, entrySize);
  }

  /** Number of free buffers. */
  get freeCount(): number {
    return this.#top;
  }

  /** Takes one buffer, or returns undefined when the pool is empty. */
  alloc(): PktBuf | undefined {
    if (this.#top === 0) return undefined;
    const index = this.#freeStack[--this.#top];
    this.#inUse[index] = 1;
    return this.buffers[index];
  }

  /** Fills `bufs[0..count)` with free buffers; returns how many it got. */
  allocBatch(bufs: PktBuf[], count: number): number {
    const n = Math.min(count, this.#top);
    for (let i = 0; i < n; i++) {
      const index = this.#freeStack[--this.#top];
      this.#inUse[index] = 1;
      bufs[i] = this.buffers[index];
    }
    return n;
  }

  /** Returns a buffer to its pool. */
  free(buf: PktBuf): void {
    const index = buf.index;
    if (this.#inUse[index] === 0) {
      throw new IxyError(`Double free of buffer ${index} of mempool ${this.id}: a driver bug.`);
    }
    this.#inUse[index] = 0;
    this.#freeStack[this.#top++] = index;
  }
}

/**
 * DMA memory for the software 82599, the benchmarks' instant devices and the
 * tests: ordinary shared JavaScript memory with made-up "physical" addresses.
 * It is bench code, so it lives here beside the model and not in
 * src/memory.ts (the real allocators, which lab 2 asks students to read).
 *
 * @module
 */

import {
  type AllocateOptions,
  type DmaAllocator,
  type DmaMemory,
  HUGE_PAGE_SIZE,
} from "../../src/memory.ts";
import { IxyError } from "../../src/error.ts";

/** Options for {@link SimulatedDmaAllocator}. */
export interface SimulatedDmaOptions {
  /** Addresses start at `base` (default 4 GiB, so bugs that drop the high half show). */
  base?: number;
  /**
   * Preallocated memory to hand out instead of fresh buffers: each allocation
   * takes the next unused slab that is large enough, whole. A device model in
   * a Worker gets these slabs once, at its start (a SharedArrayBuffer cannot be
   * shared with a running, busy Worker later), and sees in {@link
   * SimulatedDmaAllocator.slabUse} which of them the driver owns.
   */
  slabs?: readonly SharedArrayBuffer[];
}

/**
 * DMA memory for tests and device models: ordinary (shared) JavaScript memory
 * with made-up "physical" addresses. A real NIC cannot use it; a software
 * device model translates the addresses back with {@link translate}.
 *
 * Without slabs, every allocation is a new SharedArrayBuffer at the next free
 * address. With slabs (see {@link SimulatedDmaOptions.slabs}), slab i always
 * sits at address `base + (sum of the sizes of slabs 0..i-1)`, and each
 * allocation takes one whole slab.
 */
export class SimulatedDmaAllocator implements DmaAllocator {
  #blocks: { phys: number; size: number; buffer: SharedArrayBuffer }[] = [];
  #next: number;
  #slabs: readonly SharedArrayBuffer[];
  #slabPhys: number[] = [];
  #nextSlab = 0;
  /**
   * Bytes handed out per slab (0 = free), in shared memory so a device model
   * in another thread can tell memory the driver owns from memory it does not.
   * All zero without slabs.
   */
  readonly slabUse: Int32Array;
  /**
   * Per slab two words, entry size and data offset of the packet buffers
   * allocated there ({@link AllocateOptions.packetBuffers}); 0, 0 for other
   * memory. Shared like {@link slabUse}.
   */
  readonly slabLayout: Int32Array;

  /** Creates an allocator; see {@link SimulatedDmaOptions}. */
  constructor(options: SimulatedDmaOptions = {}) {
    this.#next = options.base ?? 0x1_0000_0000;
    this.#slabs = options.slabs ?? [];
    for (const slab of this.#slabs) {
      this.#slabPhys.push(this.#next);
      this.#next += slab.byteLength;
    }
    this.slabUse = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, this.#slabs.length)));
    this.slabLayout = new Int32Array(
      new SharedArrayBuffer(8 * Math.max(1, this.#slabs.length)),
    );
  }

  /** Allocates zeroed shared memory at the next free made-up address. */
  allocate(size: number, options: AllocateOptions = {}): DmaMemory {
    const bytes = Math.ceil(size / HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    let block: { phys: number; size: number; buffer: SharedArrayBuffer };
    if (this.#slabs.length === 0) {
      block = { phys: this.#next, size: bytes, buffer: new SharedArrayBuffer(bytes) };
      this.#next += bytes;
    } else {
      while (
        this.#nextSlab < this.#slabs.length && this.#slabs[this.#nextSlab].byteLength < bytes
      ) this.#nextSlab++;
      const i = this.#nextSlab++;
      if (i >= this.#slabs.length) {
        throw new IxyError(
          `Cannot allocate ${size} bytes of simulated DMA memory: all preallocated slabs are ` +
            `used or too small. Create the device model with more or larger DMA slabs.`,
        );
      }
      block = { phys: this.#slabPhys[i], size: bytes, buffer: this.#slabs[i] };
      Atomics.store(this.slabLayout, 2 * i, options.packetBuffers?.entrySize ?? 0);
      Atomics.store(this.slabLayout, 2 * i + 1, options.packetBuffers?.dataOffset ?? 0);
      Atomics.store(this.slabUse, i, bytes);
    }
    this.#blocks.push(block);
    return { buffer: block.buffer, size: bytes, physAddr: (offset) => block.phys + offset };
  }

  /** All blocks handed out so far, for sharing with a device model. */
  get blocks(): readonly { phys: number; size: number; buffer: SharedArrayBuffer }[] {
    return this.#blocks;
  }

  /**
   * Finds the memory behind `[phys, phys + length)`; undefined if that range
   * is not entirely inside one block we handed out (a DMA error).
   */
  translate(
    phys: number,
    length: number,
  ): { buffer: SharedArrayBuffer; offset: number } | undefined {
    for (const b of this.#blocks) {
      if (phys >= b.phys && phys + length <= b.phys + b.size) {
        return { buffer: b.buffer, offset: phys - b.phys };
      }
    }
    return undefined;
  }
}

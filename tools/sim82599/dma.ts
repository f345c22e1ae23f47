/**
 * The DMA memory of the software 82599 as the device sees it (worker side):
 * the slabs the simulation preallocated (mod.ts), at fixed physical
 * addresses, and how much of each the driver owns right now.
 *
 * @module
 */

/** The DMA memory of the simulation, as the device sees it: equal slabs at fixed addresses. */
export class DmaSpace {
  /** Byte views of the slabs. */
  readonly u8: Uint8Array[];
  /** Word views of the slabs. */
  readonly u32: Uint32Array[];
  /** Slab of the last successful {@link locate}. */
  slab = 0;
  /** Byte offset in that slab. */
  offset = 0;
  #use: Int32Array;
  #layout: Int32Array | undefined;
  #base: number;
  #slabSize: number;

  /**
   * Wraps the slabs; `use[i]` says how many bytes of slab i the driver owns,
   * `layout[2i]`, `layout[2i + 1]` the entry size and data offset of the
   * packet buffers in it (0 when it holds none; SimulatedDmaAllocator.slabLayout).
   */
  constructor(
    slabs: SharedArrayBuffer[],
    layout: { use: Int32Array; layout?: Int32Array; base: number; slabSize: number },
  ) {
    this.u8 = slabs.map((s) => new Uint8Array(s));
    this.u32 = slabs.map((s) => new Uint32Array(s));
    this.#use = layout.use;
    this.#layout = layout.layout;
    this.#base = layout.base;
    this.#slabSize = layout.slabSize;
  }

  /**
   * For the range of the last successful {@link locate} (`length` bytes at
   * {@link offset} of {@link slab}): the bytes of its packet buffer's data
   * area from its start on, or -1 when the range does not start in a data
   * area. Infinity when the slab holds no packet buffers (nothing to check).
   */
  dataAreaLeft(): number {
    const l = this.#layout;
    if (l === undefined) return Infinity;
    const entrySize = Atomics.load(l, 2 * this.slab);
    if (entrySize === 0) return Infinity;
    const inEntry = this.offset % entrySize;
    if (inEntry < Atomics.load(l, 2 * this.slab + 1)) return -1;
    return entrySize - inEntry;
  }

  /**
   * Finds `[phys, phys + length)` in memory the driver owns; sets {@link slab}
   * and {@link offset} and returns true, or returns false (a DMA error).
   */
  locate(phys: number, length: number): boolean {
    const rel = phys - this.#base;
    if (!(rel >= 0) || length < 0) return false;
    const i = Math.floor(rel / this.#slabSize);
    if (i >= this.u8.length) return false;
    const off = rel - i * this.#slabSize;
    if (off + length > Atomics.load(this.#use, i)) return false;
    this.slab = i;
    this.offset = off;
    return true;
  }
}

/**
 * Lab 2, reference solution: the project's own code. `pagemapOffset` and
 * `physAddr` are `pagemapOffset` and `pagemapToPhys` of src/memory.ts (what
 * `HugepageAllocator` translates its hugepages with); `createMempool` is the
 * project's `Mempool` (src/mempool.ts) behind the lab's
 * {@link LabMempool} interface, which counts buffers by index.
 *
 * @module
 */

export { pagemapOffset, pagemapToPhys as physAddr } from "../../../src/memory.ts";
import type { DmaAllocator } from "../../../src/memory.ts";
import { Mempool, type PktBuf } from "../../../src/mempool.ts";
import type { LabMempool } from "../contract.ts";

/** A {@link LabMempool} over the project's {@link Mempool}. */
export function createMempool(
  dma: DmaAllocator,
  options: { numEntries: number; entrySize: number },
): LabMempool {
  const pool = Mempool.create(dma, options);
  const scratch: PktBuf[] = [];
  return {
    numEntries: pool.numEntries,
    entrySize: pool.entrySize,
    get freeCount() {
      return pool.freeCount;
    },
    physAddr: (index) => pool.buffers[index].physAddr,
    allocBatch(out, count) {
      const n = pool.allocBatch(scratch, count);
      for (let i = 0; i < n; i++) out[i] = scratch[i].index;
      return n;
    },
    free: (index) => pool.free(pool.buffers[index]),
  };
}

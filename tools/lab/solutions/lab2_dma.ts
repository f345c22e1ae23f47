/**
 * Lab 2, reference solution: virtual-to-physical translation through
 * /proc/self/pagemap (what `HugepageAllocator` in src/memory.ts does) and a
 * mempool — here the project's own `Mempool` (src/mempool.ts) behind the
 * lab's {@link LabMempool} interface.
 *
 * @module
 */

import type { DmaAllocator } from "../../../src/memory.ts";
import { Mempool, type PktBuf } from "../../../src/mempool.ts";
import type { LabMempool } from "../contract.ts";

const PAGE_SIZE = 4096;

/** One 8-byte entry per 4 KiB page: entry of `virt` = (virt / 4096) × 8. No `>>>`: virt > 2^32. */
export function pagemapOffset(virt: number): number {
  return Math.floor(virt / PAGE_SIZE) * 8;
}

/** Bit 63 = page present, bits 0-54 = page frame number (Linux pagemap.rst). */
export function physAddr(entry: bigint, virt: number): number {
  if ((entry >> 63n) === 0n) throw new Error(`page of 0x${virt.toString(16)} is not present`);
  const pfn = entry & ((1n << 55n) - 1n);
  if (pfn === 0n) throw new Error("page frame number 0: are we root (CAP_SYS_ADMIN)?");
  return Number(pfn) * PAGE_SIZE + (virt % PAGE_SIZE);
}

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

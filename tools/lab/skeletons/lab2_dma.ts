// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 2 skeleton: copy to tools/lab/mine/lab2_dma.ts, fill in the TODOs, then
 * `deno task lab 2 --impl tools/lab/mine/lab2_dma.ts`. See docs/labs/lab2_dma.md.
 *
 * @module
 */

import type { DmaAllocator } from "../../../src/memory.ts";
import type { LabMempool } from "../contract.ts";

/** Byte offset of the pagemap entry of `virt` (one 8-byte entry per 4 KiB page). */
export function pagemapOffset(virt: number): number {
  return 0; // TODO (careful: virt is larger than 2^32)
}

/** Physical address of `virt` from its pagemap entry; throws if the page is not present. */
export function physAddr(entry: bigint, virt: number): number {
  return 0; // TODO: bit 63 present, bits 0-54 frame number
}

/** A pool of `numEntries` buffers of `entrySize` bytes in one allocation from `dma`. */
export function createMempool(
  dma: DmaAllocator,
  options: { numEntries: number; entrySize: number },
): LabMempool {
  throw new Error("TODO: allocate once, write each buffer's physical address into its header");
}

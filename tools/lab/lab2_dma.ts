/**
 * Lab 2 checker: address translation on made-up pagemap entries (addresses
 * above 4 GiB, flag bits set), and a mempool on DMA memory whose hugepages
 * are *not* physically adjacent — the usual case on a real machine.
 *
 * @module
 */

import { type DmaAllocator, type DmaMemory, HUGE_PAGE_SIZE } from "../../src/memory.ts";
import { must } from "./checklist.ts";
import type { CreateMempoolFn, PagemapOffsetFn, PhysAddrFn } from "./contract.ts";
import type { Lab } from "./lab.ts";

/** Hands out memory whose 2 MiB pages sit at scattered physical addresses, descending. */
class ScatteredDma implements DmaAllocator {
  readonly blocks: { memory: DmaMemory; pages: number[] }[] = [];
  #next = 0x3_8000_0000;

  allocate(size: number): DmaMemory {
    const bytes = Math.ceil(size / HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    const pages: number[] = [];
    for (let i = 0; i < bytes / HUGE_PAGE_SIZE; i++) {
      pages.push(this.#next);
      this.#next -= 3 * HUGE_PAGE_SIZE; // never adjacent, and going down
    }
    const memory: DmaMemory = {
      buffer: new ArrayBuffer(bytes),
      size: bytes,
      physAddr: (off) => pages[Math.floor(off / HUGE_PAGE_SIZE)] + (off % HUGE_PAGE_SIZE),
    };
    this.blocks.push({ memory, pages });
    return memory;
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Lab 2: DMA memory. */
export const lab2: Lab = {
  number: 2,
  title: "DMA memory: pagemap translation and a mempool",
  reference: "tools/lab/solutions/lab2_dma.ts",
  functions: ["pagemapOffset", "physAddr", "createMempool"],
  async run(impl, list) {
    const pagemapOffset = impl.pagemapOffset as PagemapOffsetFn;
    const physAddr = impl.physAddr as PhysAddrFn;
    const createMempool = impl.createMempool as CreateMempoolFn;

    await list.check(
      "pagemapOffset finds the entry of a virtual address (also above 4 GiB)",
      () => {
        for (const virt of [0x1000, 0x5_6000_1234, 0x7f12_3456_7abc]) {
          const want = Math.floor(virt / 4096) * 8;
          const got = pagemapOffset(virt);
          must(got === want, `for ${hex(virt)} you computed ${hex(got)}; expected ${hex(want)}`);
        }
      },
    );

    await list.check(
      "physAddr takes the frame number from bits 0-54 and adds the page offset",
      () => {
        const present = 1n << 63n;
        const flags = present | (1n << 55n) | (1n << 56n); // soft-dirty, exclusive
        const cases: [bigint, number, number][] = [
          [present | 0x12345n, 0x7f00_0000_0abc, 0x1234_5abc],
          [flags | 0x3_2345_6789n, 0x5_6000_1234, 0x3_2345_6789 * 4096 + 0x234],
        ];
        for (const [entry, virt, want] of cases) {
          const got = physAddr(entry, virt);
          must(
            got === want,
            `entry 0x${entry.toString(16)}: you computed ${hex(got)}; expected ${hex(want)}`,
          );
        }
      },
    );

    await list.check("physAddr refuses a page that is not present (bit 63 clear)", () => {
      let threw = false;
      try {
        physAddr(0x12345n, 0x7f00_0000_0000);
      } catch {
        threw = true;
      }
      must(threw, "physAddr returned an address for a page that is not in memory");
    });

    const dma = new ScatteredDma();
    const numEntries = 4096; // 8 MiB of 2 KiB buffers: four hugepages
    let pool: ReturnType<CreateMempoolFn> | undefined;
    await list.check("createMempool gives each buffer the physical address of its own page", () => {
      pool = createMempool(dma, { numEntries, entrySize: 2048 });
      must(
        dma.blocks.length === 1,
        `createMempool made ${dma.blocks.length} allocations; make one`,
      );
      const mem = dma.blocks[0].memory;
      for (let i = 0; i < numEntries; i++) {
        const want = mem.physAddr(i * 2048);
        const got = pool.physAddr(i);
        must(
          got === want,
          `buffer ${i} is at ${hex(got)}; its page says ${hex(want)}. Hugepages are not ` +
            `physically adjacent: translate each buffer's offset with memory.physAddr`,
        );
      }
    });

    await list.check(
      "each buffer's header holds its physical address (low word, high word)",
      () => {
        must(pool !== undefined, "no mempool to check");
        const words = new Uint32Array(dma.blocks[0].memory.buffer);
        for (let i = 0; i < numEntries; i++) {
          const phys = pool.physAddr(i);
          const w = (i * 2048) / 4;
          const got = words[w] + words[w + 1] * 0x1_0000_0000;
          must(got === phys, `buffer ${i}: header says ${hex(got)}, expected ${hex(phys)}`);
        }
      },
    );

    await list.check("allocBatch hands out distinct free buffers; free takes them back", () => {
      must(pool !== undefined, "no mempool to check");
      const out: number[] = [];
      const n = pool.allocBatch(out, 5000);
      must(n === numEntries, `allocBatch(out, 5000) on ${numEntries} free buffers returned ${n}`);
      must(new Set(out.slice(0, n)).size === n, "allocBatch handed out a buffer twice");
      const p = pool;
      const free = (): number => p.freeCount;
      must(free() === 0, `freeCount is ${free()} with every buffer taken`);
      must(pool.allocBatch(out, 1) === 0, "allocBatch on an empty pool must return 0");
      for (let i = 0; i < n; i++) pool.free(out[i]);
      must(free() === numEntries, `freeCount is ${free()} after freeing all`);
    });

    await list.check("free refuses a double free", () => {
      // A pool of its own: a failure above must not spill into this requirement.
      const own = createMempool(new ScatteredDma(), { numEntries: 16, entrySize: 2048 });
      const out: number[] = [];
      own.allocBatch(out, 1);
      own.free(out[0]);
      let threw = false;
      try {
        own.free(out[0]);
      } catch {
        threw = true;
      }
      must(threw, "freeing a buffer twice was accepted: it would be handed out twice");
    });
  },
};

import assert from "node:assert/strict";
import type { DmaAllocator } from "../../src/memory.ts";
import { SimulatedDmaAllocator } from "../../tools/devices/dma_allocator.ts";
import { IxyError } from "../../src/error.ts";
import { Mempool, PKT_BUF_HEADER, type PktBuf } from "../../src/mempool.ts";

Deno.test("mempool", async (t) => {
  const dma = new SimulatedDmaAllocator({ base: 0x2_0000_0000 });
  const pool = Mempool.create(dma, { numEntries: 8, entrySize: 2048 });

  await t.step("writes ixy's header layout into DMA memory", () => {
    const block = dma.blocks[0];
    const words = new Uint32Array(block.buffer);
    const buf = pool.buffers[3];
    const w = buf.offset / 4;
    assert.equal(buf.offset, 3 * 2048);
    assert.equal(buf.physAddr, 0x2_0000_0000 + 3 * 2048);
    assert.equal(words[w], (0x2_0000_0000 + 3 * 2048) >>> 0); // phys lo
    assert.equal(words[w + 1], 2); // phys hi
    assert.equal(words[w + 2], pool.id);
    assert.equal(words[w + 4], 3); // index
    // The packet size is PktBuf.size, a plain field (not ixy's header word 5).
    buf.size = 1234;
    assert.equal(buf.size, 1234);
    assert.equal(words[w + 5], 0);
    assert.equal(buf.dataPhysAddr, buf.physAddr + PKT_BUF_HEADER);
    // The halves drivers write into descriptors: the same bits as lo32/hi32.
    assert.equal(buf.dataPhysLo >>> 0, (0x2_0000_0000 + 3 * 2048 + 64) >>> 0);
    assert.equal(buf.dataPhysHi, 2);
    assert.equal(buf.data.byteOffset, 3 * 2048 + 64);
    assert.equal(buf.data.length, 2048 - 64);
    assert.equal(buf.headroom.byteOffset + buf.headroom.length, buf.data.byteOffset);
  });

  await t.step("batch alloc takes what is there, free returns it", () => {
    const bufs: PktBuf[] = new Array(16);
    assert.equal(pool.freeCount, 8);
    assert.equal(pool.allocBatch(bufs, 5), 5);
    assert.equal(pool.freeCount, 3);
    assert.equal(pool.allocBatch(bufs.slice(5), 16), 3);
    assert.equal(pool.alloc(), undefined);
    const taken = new Set(bufs.slice(0, 5).map((b) => b.index));
    assert.equal(taken.size, 5, "no buffer handed out twice");
    for (const b of bufs.slice(0, 5)) pool.free(b);
    assert.equal(pool.freeCount, 5);
  });

  await t.step("a double free is caught", () => {
    const b = pool.alloc()!;
    pool.free(b);
    assert.throws(() => pool.free(b), /Double free/);
  });

  await t.step("rejects sizes that would cross a hugepage", () => {
    assert.throws(() => Mempool.create(dma, { numEntries: 4, entrySize: 3000 }), /must divide/);
    assert.throws(() => Mempool.create(dma, { numEntries: 0 }), /at least 1/);
  });
});

Deno.test("simulated DMA translates only what it handed out", () => {
  const dma = new SimulatedDmaAllocator();
  const m = dma.allocate(100);
  assert.equal(m.size, 2 * 1024 * 1024);
  assert.deepEqual(dma.translate(m.physAddr(10), 4)?.offset, 10);
  assert.equal(dma.translate(m.physAddr(m.size - 2), 4), undefined);
  assert.equal(dma.translate(0x1000, 4), undefined);
});

Deno.test("mempool refuses DMA memory whose hugepages are not 2 MiB aligned", () => {
  const MiB = 1024 * 1024;
  // Page 0 aligned, page 1 not: a buffer in page 1 could cross a physical page.
  const pages = [0x4000_0000, 0x5000_1000];
  const dma: DmaAllocator = {
    allocate: (size) => ({
      buffer: new ArrayBuffer(Math.ceil(size / (2 * MiB)) * 2 * MiB),
      size: Math.ceil(size / (2 * MiB)) * 2 * MiB,
      physAddr: (off) => pages[Math.floor(off / (2 * MiB))] + (off % (2 * MiB)),
    }),
  };
  assert.throws(
    () => Mempool.create(dma, { numEntries: 2048 }),
    (e: unknown) => {
      assert.ok(e instanceof IxyError);
      assert.match(e.message, /not 2 MiB aligned: page 1 .* 0x50001000/);
      return true;
    },
  );
  pages[1] = 0x5000_0000;
  assert.equal(Mempool.create(dma, { numEntries: 2048 }).numEntries, 2048);
});

Deno.test("PktBuf address halves: low half past 2^31 (negative as int32) keeps its bits", () => {
  // A pool whose buffers lie at 0x3_8000_0000 and up: the low half has bit 31 set.
  const dma = new SimulatedDmaAllocator({ base: 0x3_8000_0000 });
  const pool = Mempool.create(dma, { numEntries: 4, entrySize: 2048 });
  const desc = new Uint32Array(2);
  for (const buf of pool.buffers) {
    desc[0] = buf.dataPhysLo;
    desc[1] = buf.dataPhysHi;
    assert.equal(desc[0] + desc[1] * 2 ** 32, buf.dataPhysAddr);
    // virtio puts its header just before the data: the low half alone moves.
    desc[0] = buf.dataPhysLo - 12;
    assert.equal(desc[0] + desc[1] * 2 ** 32, buf.dataPhysAddr - 12);
  }
});

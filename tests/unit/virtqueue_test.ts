import assert from "node:assert/strict";
import { Virtqueue, virtqueueLayout } from "../../drivers/virtio/virtqueue.ts";
import { SimulatedDmaAllocator } from "../../tools/devices/dma_allocator.ts";

Deno.test("legacy virtqueue layout (virtio 1.1, 2.6.2)", () => {
  // 256 entries: 4096 bytes of descriptors, 518 of available ring, used ring
  // on the next 4096 boundary.
  assert.deepEqual(virtqueueLayout(256), {
    availOffset: 4096,
    usedOffset: 8192,
    totalBytes: 12288,
  });
  assert.equal(virtqueueLayout(64).usedOffset, 4096);
});

Deno.test("virtqueue descriptors and rings in memory", () => {
  const dma = new SimulatedDmaAllocator();
  const vq = new Virtqueue(dma, { index: 1, size: 8 });
  const id = vq.takeDescriptor();
  vq.setDescriptor(id, 0x1_2345_6789, 70, 2, 5);
  const bytes = new DataView(vq.memory.buffer as SharedArrayBuffer);
  assert.equal(bytes.getBigUint64(id * 16, true), 0x1_2345_6789n);
  assert.equal(bytes.getUint32(id * 16 + 8, true), 70);
  assert.equal(bytes.getUint16(id * 16 + 12, true), 2);
  assert.equal(bytes.getUint16(id * 16 + 14, true), 5);
  for (let i = 0; i < 9; i++) vq.pushAvailable(id);
  vq.publishAvailable();
  assert.equal(bytes.getUint16(8 * 16 + 2, true), 9, "avail.idx");
  assert.equal(bytes.getUint16(8 * 16 + 4 + 2 * 0, true), id, "slot 8 % 8 = 0");
  assert.throws(() => new Virtqueue(dma, { index: 0, size: 100 }), /power of two/);
});

/**
 * The ixgbe driver reads the DD status words the device writes with plain
 * typed-array loads, not `Atomics.load` (drivers/ixgbe/rx.ts, src/mmio.ts
 * "Memory ordering"). That is only correct if V8 really loads the word each
 * time the code says so, instead of reusing a value it loaded before. The
 * harshest case for that is a loop that does nothing but load: a JIT that
 * hoists or merges loads would hoist this one and spin forever.
 *
 * Here the memory is seen as DMA memory is: a plain, non-shared ArrayBuffer
 * made from a pointer (`UnsafePointerView.getArrayBuffer`), and another
 * thread (a Worker with its own view from the same address, like a device)
 * writes the word while the main thread spins in optimised code. Checked
 * that it can fail: with the load moved out of the loop (read once, then
 * spin on the copy) the loop runs out of spins and the test fails.
 *
 * @module
 */

import assert from "node:assert/strict";

const BYTES = 4096;

/** Give up after this many spins (~10 s at ~1 ns each): the load was hoisted. */
const MAX_SPINS = 1e10;

/** Spins until bit 0 of `desc[w]` is set; one plain load per iteration. */
function spinOnPlainLoad(desc: Uint32Array, w: number): number {
  let spins = 0;
  while ((desc[w] & 1) === 0 && spins < MAX_SPINS) spins++;
  return spins;
}

const WORKER = `
self.onmessage = (e) => {
  const p = Deno.UnsafePointer.create(BigInt(e.data.addr));
  const v = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(p, ${BYTES}));
  setTimeout(() => { v[e.data.w] = 1; self.postMessage("written"); }, e.data.ms);
};`;

Deno.test("a plain typed-array load in a spin loop sees another thread's store (V8 never hoists it)", async () => {
  // Memory that outlives both views: a SharedArrayBuffer, but the spinning
  // side reads it through a non-shared ArrayBuffer made from its address,
  // exactly as the driver reads DMA memory.
  const sab = new SharedArrayBuffer(BYTES);
  const ptr = Deno.UnsafePointer.of(new Uint8Array(sab))!;
  const view = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(ptr, BYTES));
  assert.equal(view.buffer instanceof SharedArrayBuffer, false);
  const url = URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" }));
  try {
    // Three rounds on fresh words: the later ones run the loop already
    // optimised from the start, the first gets there by on-stack replacement.
    for (let round = 0; round < 3; round++) {
      const w = 4 * round + 2;
      const worker = new Worker(url, { type: "module" });
      const written = new Promise((resolve) => worker.onmessage = resolve);
      worker.postMessage({ addr: String(Deno.UnsafePointer.value(ptr)), w, ms: 200 });
      const spins = spinOnPlainLoad(view, w);
      await written;
      assert.ok(spins < MAX_SPINS, "the spinning load never saw the store: V8 hoisted it");
      worker.terminate();
      // Enough iterations that the loop ran as optimised code (TurboFan
      // compiles a hot loop within a few hundred thousand iterations).
      assert.ok(spins > 1_000_000, `only ${spins} spins: the loop cannot have been optimised`);
      assert.equal(view[w], 1);
    }
  } finally {
    URL.revokeObjectURL(url);
  }
});

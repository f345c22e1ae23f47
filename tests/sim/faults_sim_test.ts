/**
 * Faults on the software 82599: an application that holds every receive
 * buffer (mempool exhausted) must not crash the driver or lose buffers; the
 * device counts what it could not deliver, and reception resumes once the
 * application gives buffers back.
 */

import assert from "node:assert/strict";
import { createSim82599, type Sim82599 } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { FrameTemplate } from "../../tools/lib/udp_frame.ts";

/** Sends `count` template frames from `dev`, letting the model settle. */
function blast(sim: Sim82599, dev: IxgbeDevice, pool: Mempool, count: number): void {
  const t = new FrameTemplate();
  const bufs: PktBuf[] = new Array(32);
  for (let left = count; left > 0;) {
    const n = pool.allocBatch(bufs, Math.min(32, left));
    for (let i = 0; i < n; i++) {
      bufs[i].data.set(t.bytes);
      bufs[i].size = t.bytes.length;
    }
    const sent = dev.txBatch(0, bufs, n);
    for (let i = sent; i < n; i++) pool.free(bufs[i]);
    left -= sent;
    sim.settle();
  }
}

Deno.test("RX with the mempool exhausted: no crash, no leak, recovery", async () => {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [pa, pb] = sim.ports;
    const a = IxgbeDevice.attach(pa.regs, pa.dma, { name: pa.name });
    const b = IxgbeDevice.attach(pb.regs, pb.dma, { name: pb.name, rxRingSize: 64 });
    const txPool = Mempool.create(pa.dma, { numEntries: 512 });
    const rxPool = b.rxMempool(0);
    const freeAtStart = rxPool.freeCount;

    // The application takes every free receive buffer and keeps it.
    const hoard: PktBuf[] = new Array(rxPool.freeCount);
    const hoarded = rxPool.allocBatch(hoard, hoard.length);
    assert.equal(rxPool.freeCount, 0);

    blast(sim, a, txPool, 200);
    const bufs: PktBuf[] = new Array(32);
    // Frames sit in the ring, but without a fresh buffer the driver cannot
    // refill a descriptor, so it hands out nothing (and throws nothing).
    assert.equal(b.rxBatch(0, bufs, 32), 0);
    const stats = new DeviceStats();
    b.readStats(stats);
    assert.ok(stats.rxMissed > 0, "the device counted frames it had no descriptor for");

    // Give the buffers back: reception resumes.
    for (let i = 0; i < hoarded; i++) rxPool.free(hoard[i]);
    let received = 0;
    for (let n; (n = b.rxBatch(0, bufs, 32)) > 0;) {
      received += n;
      for (let i = 0; i < n; i++) rxPool.free(bufs[i]);
    }
    assert.ok(received > 0 && received <= 64, `received ${received} from a 64-entry ring`);
    blast(sim, a, txPool, 10);
    let more = 0;
    for (let n; (n = b.rxBatch(0, bufs, 32)) > 0;) {
      more += n;
      for (let i = 0; i < n; i++) rxPool.free(bufs[i]);
    }
    assert.equal(more, 10, "after recovery every frame arrives");
    assert.equal(rxPool.freeCount, freeAtStart, "no buffer leaked");
    assert.deepEqual(sim.violations(), []);
    a.close();
    b.close();
  } finally {
    sim.stop();
  }
});

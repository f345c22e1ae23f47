/**
 * fwd on the software 82599: four ports cabled in pairs (like two dual-port
 * cards in one machine), our forwarder between the pairs, traffic in both
 * directions, checked frame by frame.
 *
 *     port 0 A (generator) ==cable== port 1 X ┐
 *                                             fwd (tools/fwd.ts forward())
 *     port 3 B (receiver)  ==cable== port 2 Y ┘
 */

import assert from "node:assert/strict";
import { createSim82599, type Sim82599, type SimPort } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { FrameTemplate, SequenceChecker } from "../../tools/lib/udp_frame.ts";
import { forward } from "../../tools/fwd.ts";

const BATCH = 32;

function attach(port: SimPort): IxgbeDevice {
  return IxgbeDevice.attach(port.regs, port.dma, { name: port.name });
}

/**
 * Sends `count` stamped frames from `src` in batches; after each batch the
 * forwarder runs until the batch arrived at `dst`. Returns what `dst` saw.
 */
function sendThrough(
  ends: { src: IxgbeDevice; srcPool: Mempool; dst: IxgbeDevice },
  fwd: { x: IxgbeDevice; y: IxgbeDevice },
  options: { count: number; template: FrameTemplate },
): { checker: SequenceChecker; dropped: number } {
  const checker = new SequenceChecker(options.count, options.template);
  const tx: PktBuf[] = new Array(BATCH);
  const fwdBufs: PktBuf[] = new Array(BATCH);
  const rx: PktBuf[] = new Array(BATCH);
  const size = options.template.bytes.length;
  let dropped = 0;
  for (let seq = 0; seq < options.count;) {
    const n = ends.srcPool.allocBatch(tx, Math.min(BATCH, options.count - seq));
    for (let i = 0; i < n; i++) {
      tx[i].data.set(options.template.bytes);
      options.template.stamp(tx[i].data, seq + i);
      tx[i].size = size;
    }
    const sent = ends.src.txBatch(0, tx, n);
    for (let i = sent; i < n; i++) ends.srcPool.free(tx[i]);
    seq += sent;
    const target = checker.good + sent;
    const deadline = performance.now() + 5000;
    while (checker.good < target && performance.now() < deadline) {
      dropped += forward(fwd.x, fwd.y, fwdBufs, BATCH);
      dropped += forward(fwd.y, fwd.x, fwdBufs, BATCH);
      const got = ends.dst.rxBatch(0, rx, BATCH);
      for (let i = 0; i < got; i++) {
        checker.add(rx[i].data.subarray(0, rx[i].size));
        rx[i].pool.free(rx[i]);
      }
    }
  }
  return { checker, dropped };
}

Deno.test("fwd between two pairs of software 82599 ports, both directions", async (t) => {
  let sim: Sim82599 | undefined;
  try {
    sim = await createSim82599({ ports: 4, wiring: "cable" });
    const [a, x, y, b] = sim.ports.map(attach);
    const poolA = Mempool.create(sim.ports[0].dma, { numEntries: 1024 });
    const poolB = Mempool.create(sim.ports[3].dma, { numEntries: 1024 });
    const xFreeAtStart = x.rxMempool(0).freeCount;
    const yFreeAtStart = y.rxMempool(0).freeCount;
    const count = 4000;

    await t.step("A -> X -> fwd -> Y -> B: every frame, byte-exact", () => {
      const template = new FrameTemplate({ srcMac: a.getMacAddress() });
      const r = sendThrough({ src: a, srcPool: poolA, dst: b }, { x, y }, { count, template });
      assert.equal(r.dropped, 0);
      assert.equal(r.checker.good, count);
      assert.equal(r.checker.distinct, count);
      assert.equal(r.checker.duplicates, 0);
      assert.equal(r.checker.reordered, 0);
      assert.equal(r.checker.mismatched, 0);
      assert.equal(r.checker.bad, 0);
    });
    await t.step("B -> Y -> fwd -> X -> A: every frame, byte-exact", () => {
      const template = new FrameTemplate({ srcMac: b.getMacAddress(), size: 1514 });
      const r = sendThrough({ src: b, srcPool: poolB, dst: a }, { x: y, y: x }, {
        count,
        template,
      });
      assert.equal(r.dropped, 0);
      assert.equal(r.checker.distinct, count);
      assert.equal(r.checker.mismatched, 0);
      assert.equal(r.checker.bad, 0);
    });
    await t.step("hardware counters agree along the path", () => {
      const [sa, sx, sy, sb] = [a, x, y, b].map((d) => {
        const s = new DeviceStats();
        d.readStats(s);
        return s;
      });
      assert.equal(sa.txPackets, count);
      assert.equal(sx.rxPackets, count);
      assert.equal(sy.txPackets, count);
      assert.equal(sb.rxPackets, count);
      assert.equal(sb.txPackets, count);
      assert.equal(sy.rxPackets, count);
      assert.equal(sx.txPackets, count);
      assert.equal(sa.rxPackets, count);
      assert.equal(sb.rxBytes, count * 60);
      assert.equal(sa.rxBytes, count * 1514);
    });
    await t.step("no violations, and the forwarder leaked no buffer", () => {
      assert.deepEqual(sim!.violations(), []);
      for (const d of [a, x, y, b]) d.close();
      // After close every RX buffer is back in its pool, not only those the
      // forwarder had taken (the ring's own go back too: the device is reset).
      assert.equal(x.rxMempool(0).freeCount, x.rxMempool(0).numEntries);
      assert.equal(y.rxMempool(0).freeCount, y.rxMempool(0).numEntries);
      assert.ok(xFreeAtStart < x.rxMempool(0).numEntries, "the ring held buffers while up");
      assert.ok(yFreeAtStart < y.rxMempool(0).numEntries, "the ring held buffers while up");
      assert.equal(poolA.freeCount, 1024);
      assert.equal(poolB.freeCount, 1024);
    });
  } finally {
    sim?.stop();
  }
});

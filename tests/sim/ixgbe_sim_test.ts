/**
 * The ixgbe driver on the software 82599 (tools/sim82599/): bring-up, frames
 * from port A arriving byte-exact at port B, hardware counters, missed
 * frames, L2 filtering, several queues, garbage descriptors, and the model
 * catching driver mistakes. Every test stops its worker in `finally`.
 */

import assert from "node:assert/strict";
import { createSim82599, type Sim82599, type SimPort } from "../../tools/sim82599/mod.ts";
import { IxgbeDevice, type IxgbeOptions } from "../../drivers/ixgbe/ixgbe.ts";
import {
  IXGBE_RDT,
  IXGBE_RXDCTL,
  IXGBE_RXDCTL_ENABLE,
  IXGBE_TDLEN,
  IXGBE_TDT,
} from "../../drivers/ixgbe/constants.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { SimulatedDmaAllocator } from "../../tools/devices/dma_allocator.ts";
import { DeviceStats } from "../../src/stats.ts";
import { FrameTemplate, SequenceChecker } from "../../tools/lib/udp_frame.ts";
import { RSS_DEFAULT_KEY, rssClassify, rssRetaFor } from "../../src/rss.ts";

const BATCH = 32;

function attach(port: SimPort, options: IxgbeOptions = {}): IxgbeDevice {
  return IxgbeDevice.attach(port.regs, port.dma, { ...options, name: port.name });
}

/**
 * Sends `count` frames stamped `first..first+count-1` on `queue`, `chunk` at a
 * time, letting the device finish each chunk (settle) before the next.
 */
function send(
  tx: { sim: Sim82599; dev: IxgbeDevice; pool: Mempool; template: FrameTemplate },
  range: { first: number; count: number; queue?: number; chunk?: number },
): void {
  const bufs: PktBuf[] = new Array(BATCH);
  const size = tx.template.bytes.length;
  const chunk = range.chunk ?? 256;
  let seq = range.first;
  const end = range.first + range.count;
  while (seq < end) {
    const chunkEnd = Math.min(end, seq + chunk);
    while (seq < chunkEnd) {
      const n = tx.pool.allocBatch(bufs, Math.min(BATCH, chunkEnd - seq));
      assert.ok(n > 0, "TX mempool exhausted: the driver leaks TX buffers");
      for (let i = 0; i < n; i++) {
        bufs[i].data.set(tx.template.bytes);
        tx.template.stamp(bufs[i].data, seq + i);
        bufs[i].size = size;
      }
      const sent = tx.dev.txBatch(range.queue ?? 0, bufs, n);
      for (let i = sent; i < n; i++) tx.pool.free(bufs[i]);
      seq += sent;
      if (sent < n) tx.sim.settle(); // ring full: let the device drain it
    }
    tx.sim.settle();
  }
}

/** Receives until `count` frames arrived on `queue` (or 5 s passed); feeds `checker`. */
function receive(
  dev: IxgbeDevice,
  want: { count: number; queue?: number; checker?: SequenceChecker },
): number {
  const bufs: PktBuf[] = new Array(64);
  const deadline = performance.now() + 5000;
  let got = 0;
  while (got < want.count && performance.now() < deadline) {
    const n = dev.rxBatch(want.queue ?? 0, bufs, 64);
    for (let i = 0; i < n; i++) {
      want.checker?.add(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
    got += n;
  }
  return got;
}

/** Receives what is there (after `sim.settle()` that is everything sent so far). */
function drain(dev: IxgbeDevice, queue = 0): number {
  const bufs: PktBuf[] = new Array(64);
  let got = 0;
  for (;;) {
    const n = dev.rxBatch(queue, bufs, 64);
    if (n === 0) return got;
    for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
    got += n;
  }
}

function stats(dev: IxgbeDevice): DeviceStats {
  const s = new DeviceStats();
  dev.readStats(s);
  return s;
}

Deno.test("ixgbe on sim82599: bring-up, TX to RX byte-exact, hardware counters", async (t) => {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    let devA!: IxgbeDevice;
    let devB!: IxgbeDevice;

    await t.step("bring-up completes with link, MAC from the EEPROM, no violation", () => {
      devA = attach(a);
      devB = attach(b);
      assert.deepEqual(sim.violations(), []);
      assert.equal(devA.getLinkSpeed(), 10000);
      assert.equal(devB.getLinkSpeed(), 10000);
      assert.deepEqual(devA.getMacAddress(), a.mac);
      assert.deepEqual(devB.getMacAddress(), b.mac);
      assert.equal(devA.driverName, "ixgbe");
      assert.equal(devA.pciAddress, a.name);
    });

    const pool = Mempool.create(a.dma, { numEntries: 1024 });
    for (const size of [60, 1514]) {
      await t.step(`3000 frames of ${size} bytes arrive at B byte-exact, counters agree`, () => {
        const N = 3000;
        const template = new FrameTemplate({ size, dstMac: b.mac, srcMac: a.mac });
        const checker = new SequenceChecker(N, template);
        const freeBefore = devB.rxMempool(0).freeCount;
        // Interleave: send a chunk, receive it.
        for (let first = 0; first < N; first += 250) {
          send({ sim, dev: devA, pool, template }, { first, count: 250 });
          assert.equal(receive(devB, { count: 250, checker }), 250);
        }
        assert.equal(checker.good, N, checker.summary());
        assert.equal(checker.distinct, N, checker.summary());
        assert.equal(checker.mismatched, 0, checker.summary());
        assert.equal(checker.duplicates + checker.bad + checker.reordered, 0, checker.summary());
        assert.equal(devB.rxMempool(0).freeCount, freeBefore, "RX buffers leaked");
        const sa = stats(devA);
        const sb = stats(devB);
        assert.equal(sa.txPackets, N);
        assert.equal(sa.txBytes, N * size);
        assert.equal(sb.rxPackets, N);
        assert.equal(sb.rxBytes, N * size);
        assert.equal(sb.rxMissed + sb.rxErrors + sa.rxPackets + sb.txPackets, 0);
      });
    }

    await t.step("close returns every TX buffer and leaves no violation", () => {
      devA.close();
      devB.close();
      assert.equal(pool.freeCount, pool.numEntries);
      assert.deepEqual(sim.violations(), []);
    });
  } finally {
    sim.stop();
  }
});

Deno.test("ixgbe on sim82599: close keeps the counters, returns RX buffers, is idempotent", async () => {
  // pktgen's final line reads the counters after close(): the reset must not
  // have cleared them first (issue 20; igb and e1000 did this already).
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    const devA = attach(a);
    const devB = attach(b);
    const pool = Mempool.create(a.dma, { numEntries: 512 });
    const template = new FrameTemplate({ size: 60, dstMac: b.mac, srcMac: a.mac });
    send({ sim, dev: devA, pool, template }, { first: 0, count: 100 });
    assert.equal(drain(devB), 100);
    const rxPool = devB.rxMempool(0);
    assert.ok(rxPool.freeCount < rxPool.numEntries, "the RX ring holds buffers while up");
    devA.close();
    devB.close();
    const sa = stats(devA);
    const sb = stats(devB);
    assert.equal(sa.txPackets, 100, "TX counted until close, read after it");
    assert.equal(sa.txBytes, 100 * 60);
    assert.equal(sb.rxPackets, 100, "RX counted until close, read after it");
    assert.equal(stats(devA).txPackets, 0, "read once: the next readStats adds nothing");
    assert.equal(rxPool.freeCount, rxPool.numEntries, "every RX buffer back in its pool");
    assert.equal(pool.freeCount, pool.numEntries, "every TX buffer back in its pool");
    devB.close(); // a second close does nothing (the exit guard may call it again)
    assert.equal(rxPool.freeCount, rxPool.numEntries, "no double free");
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("ixgbe on sim82599: a full RX ring counts missed frames", async () => {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    const devA = attach(a);
    const devB = attach(b, { rxRingSize: 64 });
    const pool = Mempool.create(a.dma, { numEntries: 1024 });
    const template = new FrameTemplate({ size: 100 });
    // B does not poll: 63 descriptors (RDT = size - 1) take 63 frames, the
    // rest is dropped (SRRCTL.DROP_EN) and counted.
    send({ sim, dev: devA, pool, template }, { first: 0, count: 600 });
    const sb = stats(devB);
    assert.equal(sb.rxPackets, 63);
    assert.equal(sb.rxMissed, 600 - 63);
    assert.equal(stats(devA).txPackets, 600);
    const checker = new SequenceChecker(63, template);
    assert.equal(receive(devB, { count: 63, checker }), 63);
    assert.equal(checker.distinct, 63, checker.summary());
    // The ring is free again: the next frames arrive.
    send({ sim, dev: devA, pool, template }, { first: 0, count: 10 });
    assert.equal(receive(devB, { count: 10 }), 10);
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("ixgbe on sim82599: L2 filter drops foreign unicast until promiscuous mode", async (t) => {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    const devA = attach(a);
    const devB = attach(b);
    const pool = Mempool.create(a.dma, { numEntries: 512 });
    const foreign = Uint8Array.of(0x02, 0, 0, 0, 0, 0x99);
    const multicast = Uint8Array.of(0x01, 0x00, 0x5e, 0, 0, 1);
    const arrive = (dstMac: Uint8Array | undefined, count: number): number => {
      const template = new FrameTemplate({ dstMac });
      send({ sim, dev: devA, pool, template }, { first: 0, count });
      return drain(devB);
    };
    devB.setPromisc(false);

    await t.step("without promiscuous mode: own MAC and broadcast pass, others not", () => {
      assert.equal(arrive(b.mac, 20), 20);
      assert.equal(arrive(undefined, 20), 20); // broadcast (FCTRL.BAM)
      assert.equal(arrive(foreign, 20), 0);
      assert.equal(arrive(multicast, 20), 0);
      const sb = stats(devB);
      assert.equal(sb.rxPackets, 40, "filtered frames are not counted as received");
      assert.equal(sb.rxMissed, 0, "filtered frames are not missed");
    });

    await t.step("promiscuous mode: foreign unicast and multicast pass", () => {
      devB.setPromisc(true);
      assert.equal(arrive(foreign, 20), 20);
      assert.equal(arrive(multicast, 20), 20);
    });
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("ixgbe on sim82599: several TX and RX queues", async () => {
  const sim = await createSim82599({ ports: 2, wiring: "cable" });
  try {
    const [a, b] = sim.ports;
    const devA = attach(a, { txQueues: 4, rxQueues: 4 });
    const devB = attach(b, { txQueues: 4, rxQueues: 4 });
    assert.equal(devA.numTxQueues, 4);
    assert.equal(devB.numRxQueues, 4);
    const pool = Mempool.create(a.dma, { numEntries: 2048 });
    const template = new FrameTemplate({ size: 128 });
    const N = 500;
    const checker = new SequenceChecker(4 * N, template);
    const bufs: PktBuf[] = new Array(64);
    // Four RX queues: the driver turns RSS on (drivers/ixgbe/rss.ts), and all
    // frames of the template's one UDP flow land on the queue its hash picks
    // (tests/sim/rss_sim_test.ts checks many flows).
    const flowQueue = rssClassify(RSS_DEFAULT_KEY, rssRetaFor(4), template.bytes, {
      ipv4: true,
      ipv4Tcp: true,
      ipv4Udp: true,
    }).queue;
    for (let q = 0; q < 4; q++) {
      send({ sim, dev: devA, pool, template }, { first: q * N, count: N, queue: q });
      for (let rq = 0; rq < 4; rq++) {
        if (rq !== flowQueue) assert.equal(devB.rxBatch(rq, bufs, 64), 0);
      }
      assert.equal(receive(devB, { count: N, queue: flowQueue, checker }), N);
    }
    assert.equal(checker.distinct, 4 * N, checker.summary());
    assert.equal(stats(devA).txPackets, 4 * N);
    assert.equal(stats(devB).rxPackets, 4 * N);
    assert.throws(() => devA.txBatch(4, bufs, 1), /no TX queue 4/);
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("ixgbe on sim82599: garbage RX descriptors are dropped, counted, not leaked", async () => {
  const sim = await createSim82599({ ports: 1, wiring: "loopback" });
  try {
    const [p] = sim.ports;
    const dev = attach(p);
    const rxPool = dev.rxMempool(0);
    const freeBefore = rxPool.freeCount;
    const inject = (length: number, eop: boolean) =>
      assert.ok(p.injectRxDescriptor({ length, eop }));
    inject(0, true); // empty frame
    inject(5000, true); // longer than the buffer
    inject(100, false); // a frame over two descriptors...
    inject(100, true); // ...is dropped whole (one error)
    // Then a real frame through the loopback.
    const txPool = Mempool.create(p.dma, { numEntries: 64 });
    const template = new FrameTemplate({ dstMac: p.mac });
    send({ sim, dev, pool: txPool, template }, { first: 7, count: 1 });
    const bufs: PktBuf[] = new Array(64);
    const checker = new SequenceChecker(8, template);
    let n = 0;
    for (let i = 0; i < 10 && n === 0; i++) n = dev.rxBatch(0, bufs, 64);
    assert.equal(n, 1, "only the good frame is handed out");
    checker.add(bufs[0].data.subarray(0, bufs[0].size));
    assert.equal(checker.good, 1, checker.summary());
    rxPool.free(bufs[0]);
    assert.equal(rxPool.freeCount, freeBefore, "RX buffers leaked");
    const s = stats(dev);
    assert.equal(s.rxErrors, 3);
    assert.equal(s.rxPackets, 1);
    assert.deepEqual(sim.violations(), []);
  } finally {
    sim.stop();
  }
});

Deno.test("sim82599 catches driver mistakes", async (t) => {
  const sim = await createSim82599({ ports: 1, wiring: "loopback" });
  try {
    const [p] = sim.ports;
    const dev = attach(p, { rxRingSize: 512 });
    assert.deepEqual(sim.violations(), []);
    let seen = 0;
    const fresh = () => {
      const all = sim.violations();
      const news = all.slice(seen);
      seen = all.length;
      return news;
    };

    await t.step("a receive tail beyond the ring (RDT = ring size)", () => {
      p.regs.write32(IXGBE_RDT(0), 512);
      const v = fresh();
      assert.equal(v.length, 1, JSON.stringify(v));
      assert.equal(v[0].register, "RDT(0)");
      assert.equal(v[0].section, "8.2.3.8.5");
      assert.equal(v[0].port, p.name);
    });

    await t.step("enabling a queue before its ring base and length are set", () => {
      p.regs.write32(IXGBE_RXDCTL(5), IXGBE_RXDCTL_ENABLE);
      const v = fresh();
      assert.equal(v.length, 1, JSON.stringify(v));
      assert.equal(v[0].register, "RXDCTL(5)");
      assert.equal(v[0].section, "4.6.7");
      assert.match(v[0].message, /RDLEN/);
      assert.equal(p.regs.read32(IXGBE_RXDCTL(5)) & IXGBE_RXDCTL_ENABLE, 0, "stays disabled");
    });

    await t.step("bumping a transmit tail before the queue is enabled", () => {
      p.regs.write32(IXGBE_TDLEN(3), 1024);
      p.regs.write32(IXGBE_TDT(3), 5);
      const v = fresh();
      assert.equal(v.length, 1, JSON.stringify(v));
      assert.equal(v[0].register, "TDT(3)");
      assert.equal(v[0].section, "4.6.8");
    });

    await t.step("sending a buffer that is not in the driver's DMA memory", () => {
      const foreign = new SimulatedDmaAllocator({ base: 0x70_0000_0000 });
      const pool = Mempool.create(foreign, { numEntries: 8 });
      const buf = pool.alloc()!;
      buf.size = 60;
      assert.equal(dev.txBatch(0, [buf], 1), 1);
      sim.settle();
      const v = fresh();
      assert.equal(v.length, 1, JSON.stringify(v));
      assert.equal(v[0].register, "TX descriptor 0 of queue 0");
      assert.equal(v[0].section, "7.2.3.2.4");
      assert.match(v[0].message, /outside the DMA memory/);
    });
  } finally {
    sim.stop();
  }
});

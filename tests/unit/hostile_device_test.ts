/**
 * Issue 10 items 2 and 5: a batch with a bad buffer size, and a device whose
 * write-backs lie. Both drivers, on the instant devices driven one
 * write-back at a time (tools/fuzz/lying_devices.ts).
 */
import assert from "node:assert/strict";
import { InstantVirtioDevice } from "../../tools/devices/instant_virtio.ts";
import { InstantIxgbeDevice } from "../../tools/devices/instant_ixgbe.ts";
import { InstantIgbDevice } from "../../tools/devices/instant_igb.ts";
import { InstantE1000Device } from "../../tools/devices/instant_e1000.ts";
import {
  E1000_RING,
  IGB_RING,
  LyingIntel,
  LyingIxgbe,
  LyingVirtio,
} from "../../tools/fuzz/lying_devices.ts";
import { VirtioDevice } from "../../drivers/virtio/virtio.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { IgbDevice } from "../../drivers/igb/igb.ts";
import { E1000Device } from "../../drivers/e1000/e1000.ts";
import { IXGBE_ADVTXD, IXGBE_RXDADV_STAT } from "../../drivers/ixgbe/constants.ts";
import { VIRTIO_NET_HDR_SIZE, VIRTIO_NET_QUEUE } from "../../drivers/virtio/constants.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import type { IxyDevice } from "../../src/device.ts";

const RX = VIRTIO_NET_QUEUE.RX;
const TX = VIRTIO_NET_QUEUE.TX;
const DD_EOP = IXGBE_RXDADV_STAT.DD | IXGBE_RXDADV_STAT.EOP;

function virtio() {
  const dev = new InstantVirtioDevice();
  const drv = VirtioDevice.open(dev.pciFunction("lying-virtio"));
  return { dev, drv, lie: new LyingVirtio(dev) };
}

function ixgbe() {
  const dev = new InstantIxgbeDevice();
  const drv = IxgbeDevice.attach(dev, dev.dma, { name: "lying-ixgbe", linkTimeoutMs: 0 });
  return { dev, drv, lie: new LyingIxgbe(dev) };
}

function stats(drv: IxyDevice): DeviceStats {
  const s = new DeviceStats();
  drv.readStats(s);
  return s;
}

for (const driver of ["virtio", "ixgbe"] as const) {
  Deno.test(`${driver} txBatch stops at the first bad size and takes exactly what it queued`, () => {
    const port = driver === "virtio" ? virtio() : ixgbe();
    const pool = Mempool.create(port.dev.dma, { numEntries: 64 });
    const bufs: PktBuf[] = [];
    pool.allocBatch(bufs, 6);
    const sizes = [60, 60, 0, 60, 1_000_000, 60];
    sizes.forEach((s, i) => bufs[i].size = s);
    const sent = port.drv.txBatch(0, bufs, 6);
    assert.equal(sent, 2, "bufs[0..2) queued, bufs[2] (size 0) is not");
    for (let i = sent; i < 6; i++) pool.free(bufs[i]);
    bufs[0] = pool.alloc()!;
    bufs[0].size = 1_000_000;
    assert.equal(port.drv.txBatch(0, bufs, 1), 0, "too large: not taken");
    pool.free(bufs[0]);
    // The device sees exactly two frames, nothing stale: complete them all.
    let seen = 0;
    if (port.lie instanceof LyingVirtio) {
      for (let id; (id = port.lie.take(TX)) >= 0; seen++) port.lie.put(TX, id, 0);
      port.lie.publish(TX);
    } else {
      for (let d; (d = port.lie.takeTx()) >= 0; seen++) {
        port.lie.writeBackTx(d, IXGBE_ADVTXD.STAT_DD);
      }
    }
    assert.equal(seen, 2);
    port.drv.close();
    assert.equal(pool.freeCount, 64, "every buffer back");
  });
}

// igb sends through the 82599's ring code (drivers/ixgbe/tx.ts); e1000 writes
// legacy descriptors (8254x SDM 3.3.3) in a loop of its own. Both keep the
// same promise: no exception, no half-written batch.
const BAD_SIZE_FAMILIES = [
  ["igb", () => {
    const dev = new InstantIgbDevice();
    return { dev, drv: IgbDevice.attach(dev, dev.dma, { name: "bad-size-igb", linkTimeoutMs: 0 }) };
  }],
  ["e1000", () => {
    const dev = new InstantE1000Device();
    const opts = { name: "bad-size-e1000", linkTimeoutMs: 0 };
    return { dev, drv: E1000Device.attach(dev, dev.dma, opts) };
  }],
] as const;

for (const [family, open] of BAD_SIZE_FAMILIES) {
  Deno.test(`${family} txBatch stops at the first bad size and takes exactly what it queued`, () => {
    const { dev, drv } = open();
    const pool = Mempool.create(dev.dma, { numEntries: 64 });
    const bufs: PktBuf[] = [];
    pool.allocBatch(bufs, 6);
    const sizes = [60, 60, 0, 60, 1_000_000, 60];
    sizes.forEach((s, i) => bufs[i].size = s);
    const sent = drv.txBatch(0, bufs, 6);
    assert.equal(sent, 2, "bufs[0..2) queued, bufs[2] (size 0) is not");
    for (let i = sent; i < 6; i++) pool.free(bufs[i]);
    bufs[0] = pool.alloc()!;
    bufs[0].size = 1_000_000;
    assert.equal(drv.txBatch(0, bufs, 1), 0, "too large: not taken");
    pool.free(bufs[0]);
    // The tail (TDT) moved past exactly the two frames taken, nothing stale.
    assert.equal(dev.transmit(), 2);
    drv.close();
    assert.equal(pool.freeCount, 64, "every buffer back");
  });
}

Deno.test("virtio rxBatch: used-ring ids out of range or not held are counted, never thrown", () => {
  const { drv, lie } = virtio();
  const bufs: PktBuf[] = new Array(64);
  const pool = drv.rxMempool();
  const free0 = pool.freeCount;
  const a = lie.take(RX);
  const b = lie.take(RX);
  lie.put(RX, 0xffff_fff0, 60 + VIRTIO_NET_HDR_SIZE); // out of range: a TypeError before
  lie.put(RX, a, 60 + VIRTIO_NET_HDR_SIZE);
  lie.put(RX, a, 61 + VIRTIO_NET_HDR_SIZE); // a again: already returned
  lie.put(RX, lie.size(RX), 60 + VIRTIO_NET_HDR_SIZE); // one past the end
  lie.put(RX, b, 70 + VIRTIO_NET_HDR_SIZE);
  lie.put(RX, b, 0); // bad length (and b again)
  lie.publish(RX);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 2);
  assert.deepEqual([bufs[0].size, bufs[1].size], [60, 70]);
  const s = stats(drv);
  assert.equal(s.deviceErrors, 4);
  assert.equal(s.rxErrors, 0);
  for (let i = 0; i < n; i++) pool.free(bufs[i]);
  assert.equal(pool.freeCount, free0, "no buffer leaked");
});

Deno.test("virtio rxBatch: lengths outside 1..buffer are dropped and counted", () => {
  const { drv, lie } = virtio();
  const bufs: PktBuf[] = new Array(64);
  const pool = drv.rxMempool();
  const free0 = pool.freeCount;
  for (const len of [0, VIRTIO_NET_HDR_SIZE, 0xffff_ffff, 2048 - 64 + VIRTIO_NET_HDR_SIZE + 1]) {
    lie.put(RX, lie.take(RX), len);
  }
  lie.put(RX, lie.take(RX), 2048 - 64 + VIRTIO_NET_HDR_SIZE); // the largest good one
  lie.publish(RX);
  assert.equal(drv.rxBatch(0, bufs, 64), 1);
  assert.equal(bufs[0].size, 2048 - 64);
  assert.equal(stats(drv).rxErrors, 4);
  pool.free(bufs[0]);
  assert.equal(pool.freeCount, free0);
});

Deno.test("virtio: a used.idx more than a ring away is counted, and nothing is taken", () => {
  const { drv, lie } = virtio();
  const bufs: PktBuf[] = new Array(64);
  const pool = drv.rxMempool();
  const free0 = pool.freeCount;
  lie.put(RX, lie.take(RX), 60 + VIRTIO_NET_HDR_SIZE);
  for (const delta of [lie.size(RX) + 1, 40000, -2]) {
    lie.publishJump(RX, delta);
    assert.equal(drv.rxBatch(0, bufs, 64), 0, `jump ${delta}`);
  }
  assert.equal(stats(drv).deviceErrors, 3);
  lie.publish(RX); // the truth again
  assert.equal(drv.rxBatch(0, bufs, 64), 1);
  pool.free(bufs[0]);
  assert.equal(pool.freeCount, free0);
});

Deno.test("virtio txBatch: bad used ids and index jumps while reclaiming are counted", () => {
  const { dev, drv, lie } = virtio();
  const pool = Mempool.create(dev.dma, { numEntries: 64 });
  const bufs: PktBuf[] = [];
  pool.allocBatch(bufs, 4);
  for (const b of bufs) b.size = 60;
  assert.equal(drv.txBatch(0, bufs, 4), 4);
  const ids = [lie.take(TX), lie.take(TX), lie.take(TX), lie.take(TX)];
  lie.put(TX, ids[1], 0);
  lie.put(TX, 70000, 0); // out of range: a TypeError before
  lie.put(TX, ids[1], 0); // twice: a double free before
  lie.put(TX, ids[0], 0xffff_ffff); // tx len is not read
  lie.publishJump(TX, 1000);
  assert.equal(drv.txBatch(0, bufs, 0), 0);
  lie.publish(TX);
  assert.equal(drv.txBatch(0, bufs, 0), 0);
  assert.equal(pool.freeCount, 62);
  assert.equal(stats(drv).deviceErrors, 3);
  lie.put(TX, ids[2], 0);
  lie.put(TX, ids[3], 0);
  lie.publish(TX);
  drv.close();
  assert.equal(pool.freeCount, 64);
});

Deno.test("ixgbe rxBatch: bad lengths, MAC errors and frames without EOP are counted drops", () => {
  const { drv, lie } = ixgbe();
  const bufs: PktBuf[] = new Array(64);
  const pool = drv.rxMempool(0);
  const free0 = pool.freeCount;
  const frames: [number, number][] = [
    [DD_EOP, 60], // good
    [DD_EOP, 0], // bad length
    [DD_EOP, 0xffff], // beyond the buffer
    [DD_EOP | IXGBE_RXDADV_STAT.RXE, 60], // MAC error
    [IXGBE_RXDADV_STAT.DD, 60], // no EOP: head of a 3-descriptor frame...
    [IXGBE_RXDADV_STAT.DD, 60], // ...its middle...
    [DD_EOP, 60], // ...and its end: one bad frame
    [0xffff_ffff, 60], // every status bit: RXE among them
    [DD_EOP | 0x00f0_0000, 2048 - 64], // other bits, largest length: good
  ];
  for (const [status, length] of frames) lie.writeBackRx(lie.takeRx(), status, length);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 2);
  assert.deepEqual([bufs[0].size, bufs[1].size], [60, 2048 - 64]);
  assert.equal(stats(drv).rxErrors, 5);
  for (let i = 0; i < n; i++) pool.free(bufs[i]);
  assert.equal(pool.freeCount, free0);
});

// The same lies on the other two Intel formats. igb's advanced write-back is
// the 82599's, but its RXE is bit 31 of the status word (82576 7.1.5.2,
// extended error bit 11), not bit 29; e1000's legacy write-back has its
// frame errors in byte 1 of the status word (8254x SDM 3.2.3.2). Bits of
// offloads we leave off (checksums, header split, VLAN) are ignored.
const LYING_FAMILIES = [
  {
    family: "igb",
    open() {
      const dev = new InstantIgbDevice();
      const drv = IgbDevice.attach(dev, dev.dma, { name: "lying-igb", linkTimeoutMs: 0 });
      return { drv, lie: new LyingIntel(dev, IGB_RING) };
    },
    errors: [1 << 31], // RXE
    ignored: [1 << 30, 1 << 29, 1 << 23], // IPE, L4E, HBO
  },
  {
    family: "e1000",
    open() {
      const dev = new InstantE1000Device();
      const drv = E1000Device.attach(dev, dev.dma, { name: "lying-e1000", linkTimeoutMs: 0 });
      return { drv, lie: new LyingIntel(dev, E1000_RING) };
    },
    errors: [1 << 8, 1 << 9, 1 << 10, 1 << 12, 1 << 15], // CE, SE, SEQ, CXE, RXE
    ignored: [1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 13, 1 << 14], // IXSM, VP, TCPCS, IPCS, TCPE, IPE
  },
];

for (const { family, open, errors, ignored } of LYING_FAMILIES) {
  Deno.test(`${family} rxBatch: bad lengths, frame errors and frames without EOP are counted drops`, () => {
    const { drv, lie } = open();
    const bufs: PktBuf[] = new Array(64);
    const pool = drv.rxMempool(0);
    const free0 = pool.freeCount;
    const DD = 1;
    const EOP = 2;
    const frames: [number, number][] = [
      [DD | EOP, 60], // good
      [DD | EOP, 0], // bad length
      [DD | EOP, 0xffff], // beyond the buffer
      ...errors.map((bit): [number, number] => [DD | EOP | bit, 60]), // each frame error
      [DD, 60], // no EOP: head of a 3-descriptor frame...
      [DD, 60], // ...its middle...
      [DD | EOP, 60], // ...and its end: one bad frame
      [0xffff_ffff, 60], // every status bit: frame errors among them
      ...ignored.map((bit, i): [number, number] => [DD | EOP | bit, 61 + i]), // ignored: good
      [DD | EOP, 0xabcd_0000 | (2048 - 64)], // upper half garbage, largest length: good
    ];
    for (const [status, length] of frames) lie.writeBackRx(lie.takeRx(), status, length);
    const n = drv.rxBatch(0, bufs, 64);
    const sizes = bufs.slice(0, n).map((b) => b.size);
    assert.deepEqual(sizes, [60, ...ignored.map((_, i) => 61 + i), 2048 - 64]);
    assert.equal(stats(drv).rxErrors, 4 + errors.length);
    for (let i = 0; i < n; i++) pool.free(bufs[i]);
    assert.equal(pool.freeCount, free0);
  });
}

import assert from "node:assert/strict";
import {
  BATCH_SIZES,
  DRIVERS,
  FRAME_SIZE,
  makeScenario,
  MODES,
} from "../../tools/bench/scenarios.ts";
import { InstantVirtioDevice } from "../../tools/devices/instant_virtio.ts";
import { InstantIxgbeDevice } from "../../tools/devices/instant_ixgbe.ts";
import { InstantIgbDevice } from "../../tools/devices/instant_igb.ts";
import { VirtioDevice } from "../../drivers/virtio/virtio.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import { InstantE1000Device } from "../../tools/devices/instant_e1000.ts";
import { E1000Device } from "../../drivers/e1000/e1000.ts";
import { IgbDevice } from "../../drivers/igb/igb.ts";
import type { PktBuf } from "../../src/mempool.ts";

Deno.test("bench scenarios move a full batch per step, steady state, every size", () => {
  for (const driver of DRIVERS) {
    for (const mode of MODES) {
      for (const batch of BATCH_SIZES) {
        const s = makeScenario(driver, mode, batch);
        for (let i = 0; i < 2000; i++) {
          assert.equal(s.step(), batch, `${driver} ${mode} batch ${batch} step ${i}`);
        }
        assert.equal(s.check(), undefined);
      }
    }
  }
});

Deno.test("instant virtio device: frames come back with the length it wrote, no buffer leaks", () => {
  const dev = new InstantVirtioDevice();
  const drv = VirtioDevice.open(dev.pciFunction("t"));
  assert.equal(drv.getLinkSpeed(), 1000);
  assert.deepEqual([...drv.getMacAddress()], [...dev.mac]);
  const bufs: PktBuf[] = new Array(64);
  assert.equal(drv.rxBatch(0, bufs, 64), 0, "nothing received yet");
  assert.equal(dev.receive(FRAME_SIZE, 10), 10);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 10);
  for (let i = 0; i < n; i++) assert.equal(bufs[i].size, FRAME_SIZE);
  const pool = bufs[0].pool;
  const free = pool.freeCount;
  assert.equal(drv.txBatch(0, bufs, n), n);
  assert.equal(dev.transmit(), n);
  assert.equal(drv.txBatch(0, bufs, 0), 0); // reclaims
  assert.equal(pool.freeCount, free + n, "sent buffers returned to their pool");
  drv.close();
});

Deno.test("instant ixgbe device: write-back seen by rxBatch, DD frees TX buffers", () => {
  const dev = new InstantIxgbeDevice();
  const drv = IxgbeDevice.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  assert.equal(drv.getLinkSpeed(), 10000);
  const bufs: PktBuf[] = new Array(64);
  assert.equal(drv.rxBatch(0, bufs, 64), 0);
  assert.equal(dev.receive(FRAME_SIZE, 40), 40);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 40);
  for (let i = 0; i < n; i++) assert.equal(bufs[i].size, FRAME_SIZE);
  const pool = drv.rxMempool(0);
  const free = pool.freeCount;
  assert.equal(drv.txBatch(0, bufs, n), n);
  assert.equal(dev.transmit(), n);
  drv.txBatch(0, bufs, 0); // cleans in batches of 32
  assert.equal(pool.freeCount, free + 32);
});

Deno.test("instant e1000 device: write-back seen by rxBatch, DD frees TX buffers, close returns all", () => {
  const dev = new InstantE1000Device();
  const drv = E1000Device.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  assert.equal(drv.getLinkSpeed(), 1000);
  assert.deepEqual([...drv.getMacAddress()], [0x02, 0x69, 0x78, 0x79, 0xe1, 0x00]);
  const bufs: PktBuf[] = new Array(64);
  assert.equal(drv.rxBatch(0, bufs, 64), 0);
  assert.equal(dev.receive(FRAME_SIZE, 40), 40);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 40);
  for (let i = 0; i < n; i++) assert.equal(bufs[i].size, FRAME_SIZE);
  const pool = drv.rxMempool(0);
  const free = pool.freeCount;
  assert.equal(drv.txBatch(0, bufs, n), n);
  assert.equal(dev.transmit(), n);
  drv.txBatch(0, bufs, 0); // cleans in batches of 32
  assert.equal(pool.freeCount, free + 32);
  drv.close();
  assert.equal(pool.freeCount, pool.buffers.length, "close() returned every buffer");
  assert.throws(() => drv.rxBatch(1, bufs, 1), /one queue per direction/);
});

Deno.test("instant igb device: write-back seen by rxBatch, DD frees TX buffers, close returns all", () => {
  const dev = new InstantIgbDevice();
  const drv = IgbDevice.attach(dev, dev.dma, { name: "t", linkTimeoutMs: 0 });
  assert.equal(drv.getLinkSpeed(), 1000);
  assert.equal(drv.getMacAddress().join(","), "2,105,120,121,190,3");
  const bufs: PktBuf[] = new Array(64);
  assert.equal(drv.rxBatch(0, bufs, 64), 0);
  assert.equal(dev.receive(FRAME_SIZE, 40), 40);
  const n = drv.rxBatch(0, bufs, 64);
  assert.equal(n, 40);
  for (let i = 0; i < n; i++) assert.equal(bufs[i].size, FRAME_SIZE);
  const pool = drv.rxMempool(0);
  const free = pool.freeCount;
  assert.equal(drv.txBatch(0, bufs, n), n);
  assert.equal(dev.transmit(), n);
  drv.txBatch(0, bufs, 0); // cleans in batches of 32
  assert.equal(pool.freeCount, free + 32);
  drv.close();
  assert.equal(pool.freeCount, pool.numEntries, "close() returned every buffer to the pool");
});

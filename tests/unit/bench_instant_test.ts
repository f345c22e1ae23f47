import assert from "node:assert/strict";
import {
  BATCH_SIZES,
  DRIVERS,
  FRAME_SIZE,
  makeScenario,
  MODES,
} from "../../tools/bench/scenarios.ts";
import { InstantVirtioDevice } from "../../tools/bench/instant_virtio.ts";
import { InstantIxgbeDevice } from "../../tools/bench/instant_ixgbe.ts";
import { VirtioDevice } from "../../drivers/virtio/virtio.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
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

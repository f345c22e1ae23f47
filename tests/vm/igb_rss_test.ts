/**
 * Lab-VM test of RSS on the igb driver (issue 22), one boot: QEMU's igb
 * (hw/net/igb_core.c, with `-d guest_errors,unimp`: any line in its log
 * fails the test) as our 82576 with 2 receive queues, and the kernel's
 * virtio_net on a second NIC of the same hub sending test frames over 64 UDP
 * flows (tools/peer.ts send --flows). For every frame our receiver
 * (tests/vm/guest/rss_rx_check.ts) checks the hash the NIC wrote back
 * against src/rss.ts's Toeplitz, the queue against RETA[hash & 127], and the
 * bytes against what the peer built. Needs QEMU 8.0 or newer (`-device igb`).
 */

import assert from "node:assert/strict";
import { field, guestWithLog } from "./lib.ts";
import { type NicModel, requireQemu, vmNicAddress } from "../../tools/vm/mod.ts";

const COUNT = 2000;
const FLOWS = 64;
const QUEUES = 2;

Deno.test("lab VM igb RSS: 64 UDP flows from the kernel over 2 RX queues, hash and queue per frame", async (t) => {
  await requireQemu({ min: "8.0", why: "-device igb (the Intel 82576)" });
  const models: NicModel[] = ["igb", "virtio"];
  const { out, qemuLog } = await guestWithLog(
    `sh tests/vm/guest/rss_kernel_to_rx.sh ${COUNT} ${FLOWS} ${QUEUES}`,
    {
      nicModels: models,
      env: {
        OURS: vmNicAddress(0, models),
        PEER_PCI: vmNicAddress(1, models),
        // Room for the whole burst on one queue: QEMU's igb drops a frame
        // that finds its ring full, and under TCG the kernel sends faster
        // than we check (tests/vm/igb_test.ts).
        RX_RING_SIZE: "2048",
      },
    },
  );
  const r = JSON.parse(field(out, "RSS_RESULT"));
  await t.step("every frame arrived once, identical to what the kernel sent", () => {
    assert.equal(r.bad, 0, `malformed frames: ${r.badReasons}`);
    assert.equal(r.good, COUNT);
    assert.equal(r.distinct, COUNT);
    assert.equal(r.duplicates, 0);
    assert.equal(r.mismatched, 0, "frames differ from what the peer built");
    assert.equal(Number(field(out, "KERNEL_TX_PACKETS")), COUNT);
  });
  await t.step(
    "PktBuf.rssHash = Toeplitz(RSS_DEFAULT_KEY), rssType = UdpIPv4, queue = RETA",
    () => {
      assert.equal(r.rss.checked, COUNT);
      assert.deepEqual(
        { hash: r.rss.hashMismatch, type: r.rss.typeMismatch, queue: r.rss.queueMismatch },
        { hash: 0, type: 0, queue: 0 },
        `first mismatches: ${r.rssSamples}`,
      );
    },
  );
  await t.step("both queues got traffic", () => {
    assert.equal(r.perQueue.length, QUEUES);
    for (let q = 0; q < QUEUES; q++) assert.ok(r.perQueue[q] > 0, `queue ${q}: ${r.perQueue}`);
    console.log(`frames per queue: ${r.perQueue.join(", ")}`);
  });
  await t.step("QEMU logged no guest error", () => {
    assert.deepEqual(qemuLog, []);
  });
});

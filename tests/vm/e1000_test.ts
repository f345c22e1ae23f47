/**
 * Lab-VM tests of the e1000 driver (drivers/e1000/) against two referees we
 * did not write: QEMU's model of the Intel 82540EM (hw/net/e1000.c, written
 * from the 8254x SDM) and the Linux kernel's own e1000 driver on other NICs
 * of the same QEMU hub. QEMU runs with `-d guest_errors,unimp` (VmOptions
 * `qemuLog`): every test also fails if the model logged a single guest error.
 */

import assert from "node:assert/strict";
import { readQemuLog, type VmOptions } from "../../tools/vm/mod.ts";
import { checkForwardOutput, field, guest } from "./lib.ts";

const COUNT = 2000;

/** Runs `script` in a VM with `options` and QEMU's guest-error log; returns the output and the log. */
async function guestWithLog(
  script: string,
  options: VmOptions,
): Promise<{ out: string; qemuLog: string[] }> {
  const logFile = await Deno.makeTempFile({ prefix: "ixy-e1000-qemu-", suffix: ".log" });
  try {
    const out = await guest(script, { ...options, qemuLog: logFile });
    return { out, qemuLog: readQemuLog(logFile) };
  } finally {
    await Deno.remove(logFile).catch(() => {});
  }
}

Deno.test("lab VM e1000: pktgen -> kernel e1000, kernel e1000 -> our rxBatch", async (t) => {
  // NIC 0 (ours) and NIC 1 (the kernel's e1000 driver) are both QEMU 82540EMs on hub 0.
  const { out, qemuLog } = await guestWithLog(
    `export KMOD=e1000; sh tests/vm/guest/pktgen_to_kernel.sh ${COUNT} && ` +
      `sh tests/vm/guest/kernel_to_rx.sh ${COUNT}`,
    { nicModels: ["e1000", "e1000"] },
  );
  await t.step("our pktgen drove the NIC with the e1000 driver", () => {
    assert.match(out, /^pktgen: e1000 NIC 0000:00:10\.0, MAC 02:69:78:79:00:00, link 1000 /m);
  });
  const peer = JSON.parse(field(out, "PEER_RESULT"));
  await t.step("the kernel peer received every frame, well-formed, in order", () => {
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, COUNT);
    assert.equal(peer.distinct, COUNT, "every sequence number arrived");
    assert.equal(peer.duplicates, 0);
    assert.equal(peer.outOfRange, 0);
    // See virtio_test.ts: QEMU's net queue may rarely deliver out of order.
    assert.ok(peer.reordered <= COUNT / 100, `reordered: ${peer.reorderSamples}`);
  });
  await t.step("our TX counter (GPTC) equals the kernel's RX counter", () => {
    const sent = Number(/pktgen: sent (\d+) frames/.exec(out)?.[1]);
    assert.equal(sent, COUNT);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), sent);
  });
  const rx = JSON.parse(field(out, "RX_RESULT"));
  await t.step("every frame the kernel sent arrived once, byte-exact", () => {
    assert.equal(rx.bad, 0, `malformed frames: ${rx.badReasons}`);
    assert.equal(rx.good, COUNT);
    assert.equal(rx.distinct, COUNT);
    assert.equal(rx.duplicates, 0);
    assert.equal(rx.mismatched, 0, "frames differ from what the peer built");
  });
  await t.step("our RX counters (GPRC, GORC less the CRC) equal the kernel's TX counter", () => {
    assert.equal(rx.rxPackets, Number(field(out, "KERNEL_TX_PACKETS")));
    assert.equal(rx.rxBytes, COUNT * 60);
  });
  await t.step("QEMU logged no guest error", () => {
    assert.deepEqual(qemuLog, []);
  });
});

Deno.test("lab VM e1000: fwd joins two kernel hosts (ping, TCP, counters)", async (t) => {
  // Four 82540EMs: A (kernel) -hub 0- X (ours), Y (ours) -hub 1- B (kernel).
  const { out, qemuLog } = await guestWithLog(
    "KMOD=e1000 sh tests/vm/guest/forward.sh 4194304",
    { nicModels: ["e1000", "e1000", "e1000", "e1000"], hubs: [0, 0, 1, 1] },
  );
  await t.step("ping, 4 MiB TCP with equal SHA-256, counters equal the kernel's", () => {
    assert.match(out, /e1000 NIC 0000:00:11\.0/);
    checkForwardOutput(out, 4194304);
  });
  await t.step("QEMU logged no guest error", () => {
    assert.deepEqual(qemuLog, []);
  });
});

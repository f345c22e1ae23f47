/**
 * Lab-VM tests of the virtio driver against a peer we did not write: the
 * Linux kernel's own virtio_net driver on a second NIC of the same QEMU hub.
 * The tests share one boot of the VM (QEMU, TCG): each runs one script from
 * tests/vm/guest/ in it and checks what that printed. bad_input.sh comes
 * last (it takes the hugepages away), on 00:11.0: the peer NIC, still the
 * kernel's. Needs root on the host (QEMU, the kernel download); see README.
 */

import assert from "node:assert/strict";
import { field, SharedBoot } from "./lib.ts";

const COUNT = 3000;

const vm = new SharedBoot({
  // A NIC no driver of ours takes (the e1000 it used to be is now ours).
  extraDevices: ["rtl8139,addr=0x1e,romfile="],
}, {
  pktgen: { script: `sh tests/vm/guest/pktgen_to_kernel.sh ${COUNT}` },
  rx: { script: `sh tests/vm/guest/kernel_to_rx.sh ${COUNT}` },
  badInput: { script: "sh tests/vm/guest/bad_input.sh", env: { OURS: "0000:00:11.0" } },
});

Deno.test("lab VM: pktgen -> kernel virtio_net peer", async (t) => {
  const out = await vm.section("pktgen");
  const peer = JSON.parse(field(out, "PEER_RESULT"));
  await t.step("the kernel peer received every frame, well-formed", () => {
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, COUNT);
    assert.equal(peer.distinct, COUNT, "every sequence number arrived");
    assert.equal(peer.duplicates, 0);
    assert.equal(peer.outOfRange, 0);
  });
  await t.step("sequence numbers increase", () => {
    // QEMU's net queue may deliver a fresh frame ahead of queued ones when the
    // receiver's ring had been full (net/queue.c delivers directly, then
    // flushes). Allow that rarely; a driver bug would reorder far more.
    assert.ok(peer.reordered <= COUNT / 100, `reordered: ${peer.reorderSamples}`);
  });
  await t.step("our TX counter equals the kernel's RX counter", () => {
    const sent = Number(/pktgen: sent (\d+) frames/.exec(out)?.[1]);
    assert.equal(sent, COUNT);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), sent);
  });
});

Deno.test("lab VM: kernel virtio_net peer -> our rxBatch, byte-exact", async (t) => {
  const out = await vm.section("rx");
  const rx = JSON.parse(field(out, "RX_RESULT"));
  await t.step("every frame arrived once, identical to what the kernel sent", () => {
    assert.equal(rx.bad, 0, `malformed frames: ${rx.badReasons}`);
    assert.equal(rx.good, COUNT);
    assert.equal(rx.distinct, COUNT);
    assert.equal(rx.duplicates, 0);
    assert.equal(rx.mismatched, 0, "frames differ from what the peer built");
  });
  await t.step("our RX counters equal the kernel's TX counter", () => {
    assert.equal(rx.rxPackets, Number(field(out, "KERNEL_TX_PACKETS")));
    assert.equal(rx.rxBytes, COUNT * 60);
  });
});

Deno.test("lab VM: bad input gets one clear line, and the NIC stays with the kernel", async (t) => {
  const out = await vm.section("badInput");
  const cases = new Map<string, { code: number; text: string }>();
  for (const block of out.split(/^CASE /m).slice(1)) {
    const [head, ...rest] = block.split("\n");
    const [name, exit] = head.split(" exit=");
    // The case's output ends where the script's own NAME=value lines begin.
    const end = rest.findIndex((line) => /^[A-Z_0-9]+=/.test(line));
    const text = (end < 0 ? rest : rest.slice(0, end)).join("\n").trim();
    cases.set(name, { code: Number(exit), text });
  }
  const expect: [string, RegExp][] = [
    ["malformed", /^error: Malformed PCI address "0000:00:zz\.0".*lspci -D/],
    ["missing", /^error: No PCI device 0000:00:1f\.7/],
    ["not-a-nic", /^error: 0000:00:00\.0 is not a network controller \(PCI class 0x06, bridge\)/],
    ["bad-option", /^error: Invalid --size "20"/],
    ["frame-too-big", /^error: Invalid --size "3000": expected a whole number 60\.\.1514/],
    ["unsupported", /^error: 0000:00:1e\.0 \(10ec:8139\) is not supported: .*lspci -nn/],
    ["unknown-option", /^error: Unknown option '--frobnicate'/],
    ["in-use", /^error: 0000:00:11\.0 is in use by the kernel as eth\d .*--force/],
    ["not-root", /^error: Cannot create \/dev\/hugepages\/.*Permission denied\. Run as root/],
    ["no-hugepages", /^error: .*Too few free hugepages\? Needed 1, 0 free/],
    [
      "not-a-nic-no-hugepages",
      /^error: 0000:00:00\.0 is not a network controller \(PCI class 0x06, bridge\)/,
    ],
    ["unsupported-no-hugepages", /^error: 0000:00:1e\.0 \(10ec:8139\) is not supported: /],
    ["no-hugetlbfs", /^error: Cannot allocate DMA memory: no hugetlbfs is mounted/],
  ];
  for (const [name, pattern] of expect) {
    await t.step(name, () => {
      const c = cases.get(name);
      assert.ok(c, `case ${name} did not run:\n${out}`);
      assert.notEqual(c.code, 0);
      assert.match(c.text, pattern);
      assert.equal(c.text.split("\n").length, 1, `more than one line:\n${c.text}`);
      assert.doesNotMatch(c.text, /^\s+at /m, "no stack trace");
    });
  }
  await t.step("failed starts left the NIC bound to virtio-pci", () => {
    assert.equal(field(out, "DRIVER_AFTER_FAILURES"), "virtio-pci");
    assert.equal(field(out, "DRIVER_AFTER_FAILURES2"), "virtio-pci");
  });
});

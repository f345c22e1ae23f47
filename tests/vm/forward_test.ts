/**
 * Lab-VM tests with the Linux network stack on both sides of our driver:
 * fwd between two network namespaces (ping, a TCP transfer, counters), and
 * pcap read back by tshark. One boot for both: pcap first (on NICs 0 and 1,
 * hub 0; --rebind gives NIC 0 back to the kernel), then fwd on all four.
 */

import assert from "node:assert/strict";
import { checkForwardOutput, field, SharedBoot } from "./lib.ts";

const PCAP_COUNT = 500;

const vm = new SharedBoot({ nics: 4, hubs: [0, 0, 1, 1] }, {
  pcap: { script: `sh tests/vm/guest/pcap_capture.sh ${PCAP_COUNT}` },
  fwd: { script: "sh tests/vm/guest/forward.sh 4194304" },
});

Deno.test("lab VM: fwd joins two kernel hosts (ping, TCP, counters)", async () => {
  const out = await vm.section("fwd");
  checkForwardOutput(out, 4194304);
});

Deno.test("lab VM: pcap writes what the kernel sent; tshark decodes every frame; --rebind", async () => {
  const count = PCAP_COUNT;
  const out = await vm.section("pcap");
  assert.match(out, new RegExp(`^pcap: wrote ${count} frames`, "m"));
  assert.equal(Number(field(out, "TSHARK_ALL")), count);
  assert.equal(Number(field(out, "TSHARK_OURS")), count, "all are our UDP test frames");
  assert.equal(Number(field(out, "TSHARK_BAD_CHECKSUM")), 0);
  const [time, mac, udpLength] = field(out, "TSHARK_FIRST").split(/\s+/);
  assert.ok(Math.abs(Number(time) - Date.now() / 1000) < 3600, `timestamp ${time} is now-ish`);
  assert.match(mac, /^02:69:78:79:00:01$/, "source MAC of the kernel's NIC");
  // --rebind gave the NIC back to virtio-pci, and the kernel made it a net device again.
  assert.equal(field(out, "DRIVER_AFTER"), "virtio-pci");
  assert.match(field(out, "IFACE_AFTER"), /^eth\d+$/);
  assert.equal(Number(udpLength), 26);
});

/**
 * Lab-VM tests with the Linux network stack on both sides of our driver:
 * fwd between two network namespaces (ping, a TCP transfer, counters), and
 * pcap read back by tshark.
 */

import assert from "node:assert/strict";
import { field, guest } from "./lib.ts";

const numbers = (text: string) => text.trim().split(/\s+/).map(Number);

Deno.test("lab VM: fwd joins two kernel hosts (ping, TCP, counters)", async (t) => {
  const out = await guest("sh tests/vm/guest/forward.sh 4194304", { nics: 4, hubs: [0, 0, 1, 1] });
  await t.step("ping A -> B through our forwarder", () => {
    assert.equal(field(out, "PING_OK"), "1", out);
  });
  await t.step("4 MiB over TCP arrive with the same SHA-256", () => {
    const source = JSON.parse(field(out, "SOURCE_RESULT"));
    const sink = JSON.parse(field(out, "SINK_RESULT"));
    assert.equal(sink.bytes, 4194304);
    assert.equal(sink.sha256, source.sha256);
  });
  await t.step("our counters match the kernel's", () => {
    const [aRx0, aTx0] = numbers(field(out, "A_BEFORE"));
    const [aRx1, aTx1] = numbers(field(out, "A_AFTER"));
    const [bRx0, bTx0] = numbers(field(out, "B_BEFORE"));
    const [bRx1, bTx1] = numbers(field(out, "B_AFTER"));
    const m = /rx (\d+) tx (\d+); \S+ rx (\d+) tx (\d+); dropped (\d+) \+ (\d+)/.exec(
      field(out, "FWD_FINAL"),
    );
    assert.ok(m, out);
    const [xRx, xTx, yRx, yTx, dropXY, dropYX] = m.slice(1).map(Number);
    assert.equal(dropXY + dropYX, 0, "no drops at this rate");
    assert.equal(xRx, aTx1 - aTx0, "X received what A sent");
    assert.equal(xTx, aRx1 - aRx0, "A received what X sent");
    assert.equal(yTx, bRx1 - bRx0, "B received what Y sent");
    assert.equal(yRx, bTx1 - bTx0, "Y received what B sent");
    assert.equal(yTx, xRx, "everything X received left on Y");
    assert.ok(xRx > 2800, `a 4 MiB transfer needs > 2800 frames, saw ${xRx}`);
  });
});

Deno.test("lab VM: pcap writes what the kernel sent; tshark decodes every frame; --rebind", async () => {
  const count = 500;
  const out = await guest(`sh tests/vm/guest/pcap_capture.sh ${count}`, { nics: 2 });
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

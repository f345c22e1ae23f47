/**
 * Lab-VM test of the ring viewer (`deno task view --nic <pci>`) on a virtio
 * NIC, the kernel's virtio_net on a second NIC of the same QEMU hub as the
 * peer. tests/vm/guest/view.sh starts the viewer in the VM and
 * tests/vm/guest/view_check.ts reads it as the page does (there is no
 * browser in the VM): the configuration, the event stream while the kernel
 * sends frames to us and we send generated frames to it, and one step.
 * Needs root on the host (QEMU, the kernel download); see README.
 */

import assert from "node:assert/strict";
import { field, guest } from "./lib.ts";

const COUNT = 2000;

interface Pointers {
  head: number;
  tail: number;
  driver: number;
}
interface RingSeen {
  kind: string;
  size: number;
  owners: number;
  first: Pointers;
  last: Pointers;
  distinct: Pointers;
}

Deno.test("lab VM: the ring viewer on a virtio NIC (event stream, pointers, one step)", async (t) => {
  const out = await guest(`sh tests/vm/guest/view.sh ${COUNT}`);
  const view = JSON.parse(field(out, "VIEW_RESULT"));
  const rings: RingSeen[] = view.rings;
  const kernelSent = Number(field(out, "KERNEL_TX_PACKETS"));
  const kernelGot = Number(field(out, "KERNEL_RX_PACKETS"));
  /** Distance from a to b along virtio's 16-bit indexes (virtio 1.1, 2.6.6). */
  const ahead = (a: number, b: number) => (b - a) & 0xffff;

  await t.step("one virtio port, its receive and transmit queue, one owner per slot", () => {
    assert.deepEqual(view.ports.map((p: { name: string }) => p.name), ["0000:00:10.0"]);
    assert.equal(view.ports[0].driver, "virtio");
    assert.deepEqual(view.steps, ["send", "receive"]);
    assert.deepEqual(rings.map((r) => r.kind), ["virtio-rx", "virtio-tx"]);
    for (const r of rings) {
      // QEMU's legacy virtio-net queues have 256 entries (the device says so, 4.1.4.8).
      assert.equal(r.size, 256);
      assert.equal(r.owners, r.size, `${r.kind}: one owner per slot`);
    }
    assert.ok(view.snapshots >= 20, `only ${view.snapshots} snapshots`);
  });

  await t.step("as root, its web server ran confined, at an address with a token", () => {
    const log = field(out, "VIEW_LOG");
    assert.match(
      log,
      /web server: a Worker without read, write, run, ffi, env, sys; net 127\.0\.0\.1:8080 only/,
    );
    assert.match(log, /view: open http:\/\/127\.0\.0\.1:8080\/[0-9a-f]{48}\//);
  });

  await t.step("receive queue: used.idx moved by every frame the kernel sent, all refilled", () => {
    const rx = rings[0];
    const seen = JSON.stringify(rx);
    assert.equal(kernelSent, COUNT);
    assert.equal(ahead(rx.first.head, rx.last.head), kernelSent, seen);
    assert.ok(rx.distinct.head > 2, `used.idx moved while the frames arrived: ${seen}`);
    assert.equal(rx.last.driver, rx.last.head, `the driver processed every used entry: ${seen}`);
    assert.equal(ahead(rx.last.head, rx.last.tail), rx.size, `every slot refilled: ${seen}`);
  });

  await t.step("transmit queue: avail.idx and used.idx move; the kernel got our frames", () => {
    const tx = rings[1];
    assert.ok(tx.distinct.tail > 2 && tx.distinct.head > 2, JSON.stringify(tx));
    assert.ok(ahead(tx.first.tail, tx.last.tail) > 0);
    assert.ok(ahead(tx.last.head, tx.last.tail) <= tx.size);
    assert.ok(kernelGot >= view.step.txAfter.head, `kernel received ${kernelGot}`);
  });

  await t.step("step 'send one packet': avail.idx and used.idx move by exactly one", () => {
    const s = view.step;
    assert.equal(s.packets, 1);
    assert.equal(ahead(s.txBefore.tail, s.txAfter.tail), 1);
    assert.equal(ahead(s.txBefore.head, s.txAfter.head), 1, "QEMU sent it at once");
    const moved = s.moved.find((m: { name: string }) => m.name === "avail.idx");
    assert.deepEqual([moved?.from, moved?.to], [s.txBefore.tail, s.txAfter.tail]);
  });

  await t.step("the descriptor of that slot decodes to our frame", () => {
    const { desc } = view.step;
    assert.equal(desc.ring, "virtio-tx");
    const len = desc.fields.find((f: { name: string }) =>
      /\.len$/.test(f.name) && !/used/.test(f.name)
    );
    assert.equal(Number(len.value), 10 + 60, "virtio_net_hdr (legacy: 10 bytes) + 60-byte frame");
    const marks = new Map(
      desc.packet.marks.map((m: { name: string; fields: string }) => [m.name, m.fields]),
    );
    assert.match(String(marks.get("Ethernet")), new RegExp(`src ${view.ports[0].mac}`));
    assert.match(String(marks.get("IPv4")), /^198\.18\.0\.1 → 198\.18\.0\.2 proto 17/);
    assert.equal(desc.packet.hex.length, 2 * 70);
  });
});

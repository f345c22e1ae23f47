/**
 * Lab-VM tests of the modern virtio transport (drivers/virtio/modern.ts).
 *
 * In the VM with QEMU's emulated Intel IOMMU and modern NICs (`deno task vm
 * --iommu --modern-nics`: virtio 1.x, `disable-legacy=on,iommu_platform=on`)
 * our driver negotiates VIRTIO_F_ACCESS_PLATFORM (virtio 1.1 section 6.1), so
 * the NIC's DMA goes through the IOMMU and everything runs as the normal user
 * nobody through VFIO (tests/vm/guest/vfio_modern_*.sh): pktgen to a kernel
 * peer, a kernel peer to our rxBatch, and fwd between two kernel hosts.
 * Once more without IOMMU: the modern transport as root over sysfs BARs.
 */

import assert from "node:assert/strict";
import { field, guest } from "./lib.ts";

const COUNT = 2000;
/** q35 + intel-iommu, modern virtio NICs whose DMA the IOMMU translates. */
const MODERN_IOMMU = { iommu: true, modernNics: true };
const numbers = (text: string): number[] => text.trim().split(/\s+/).map(Number);

Deno.test("lab VM + IOMMU, modern virtio: pktgen as nobody through VFIO -> kernel peer", async (t) => {
  const out = await guest(
    `sh tests/vm/guest/vfio_modern_pktgen_to_kernel.sh ${COUNT}`,
    MODERN_IOMMU,
  );
  await t.step("a modern-only NIC (1af4:1041) bound to vfio-pci, and it stayed there", () => {
    assert.equal(field(out, "DRIVER_OURS"), "vfio-pci");
    assert.equal(field(out, "DEVICE_ID_OURS"), "0x1041");
    assert.equal(field(out, "DRIVER_AFTER"), "vfio-pci");
  });
  await t.step("the kernel peer received every frame; no DMAR fault", () => {
    const peer = JSON.parse(field(out, "PEER_RESULT"));
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, COUNT);
    assert.equal(peer.distinct, COUNT);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), COUNT);
    assert.equal(Number(field(out, "DMAR_FAULTS")), 0);
  });
});

Deno.test("lab VM + IOMMU, modern virtio: kernel peer -> our rxBatch as nobody", async (t) => {
  const out = await guest(`sh tests/vm/guest/vfio_modern_kernel_to_rx.sh ${COUNT}`, MODERN_IOMMU);
  const rx = JSON.parse(field(out, "RX_RESULT"));
  await t.step("every frame arrived once, byte-exact (12-byte virtio_net_hdr stripped)", () => {
    assert.equal(field(out, "DRIVER_OURS"), "vfio-pci");
    assert.equal(rx.bad, 0, `malformed frames: ${rx.badReasons}`);
    assert.equal(rx.good, COUNT);
    assert.equal(rx.distinct, COUNT);
    assert.equal(rx.mismatched, 0);
    assert.equal(rx.rxPackets, Number(field(out, "KERNEL_TX_PACKETS")));
    assert.equal(Number(field(out, "DMAR_FAULTS")), 0);
  });
});

Deno.test("lab VM + IOMMU, modern virtio: fwd as nobody joins two kernel hosts", async (t) => {
  const out = await guest("sh tests/vm/guest/vfio_modern_forward.sh 1048576", {
    ...MODERN_IOMMU,
    nics: 4,
    hubs: [0, 0, 1, 1],
  });
  await t.step("both NICs through VFIO, fwd ran as nobody", () => {
    assert.equal(field(out, "DRIVER_X"), "vfio-pci");
    assert.equal(field(out, "DRIVER_Y"), "vfio-pci");
    assert.equal(Number(field(out, "FWD_UID")), 65534);
  });
  await t.step("ping A -> B, and 1 MiB over TCP with the same SHA-256", () => {
    assert.equal(field(out, "PING_OK"), "1", out);
    const source = JSON.parse(field(out, "SOURCE_RESULT"));
    const sink = JSON.parse(field(out, "SINK_RESULT"));
    assert.equal(sink.bytes, 1048576);
    assert.equal(sink.sha256, source.sha256);
  });
  await t.step("our counters match the kernel's; no DMAR fault", () => {
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
    assert.equal(Number(field(out, "DMAR_FAULTS")), 0);
  });
});

Deno.test("lab VM, modern virtio as root over sysfs BARs (no IOMMU): pktgen and rxBatch", async (t) => {
  const count = 500;
  const options = { modernNics: true };
  await t.step("pktgen -> kernel peer: every frame", async () => {
    const out = await guest(`sh tests/vm/guest/pktgen_to_kernel.sh ${count}`, options);
    const peer = JSON.parse(field(out, "PEER_RESULT"));
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, count);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), count);
  });
  await t.step("kernel peer -> rxBatch: byte-exact", async () => {
    const out = await guest(`sh tests/vm/guest/kernel_to_rx.sh ${count}`, options);
    const rx = JSON.parse(field(out, "RX_RESULT"));
    assert.equal(rx.good, count);
    assert.equal(rx.mismatched, 0);
  });
});

/**
 * Lab-VM tests of the VFIO path (src/vfio.ts), in the VM with QEMU's
 * emulated Intel IOMMU (`deno task vm --iommu`). The tests share one boot: each
 * runs one script from tests/vm/guest/vfio_*.sh in it and checks what it printed.
 *
 * - pktgen and rxBatch through VFIO on a legacy virtio NIC bound to vfio-pci
 *   (tools/bind.ts): registers through the VFIO device fd. Such a NIC's DMA
 *   bypasses the IOMMU (virtio 1.1 section 6.1), so these run as root; as a
 *   normal user the driver refuses with a clear line.
 * - The IOMMU at work, as the normal user nobody: the e1000 of the IOMMU VM
 *   sends from mapped memory (arrives), from an unmapped IOVA (does not; the
 *   kernel logs a DMAR fault), and from mapped memory again (arrives).
 */

import assert from "node:assert/strict";
import { field, SharedBoot } from "./lib.ts";

const COUNT = 2000;

/** QEMU with an emulated Intel IOMMU (q35, intel-iommu). */
const vm = new SharedBoot({ iommu: true }, {
  fault: { script: "sh tests/vm/guest/vfio_iommu_fault.sh" },
  pktgen: { script: `sh tests/vm/guest/vfio_pktgen_to_kernel.sh ${COUNT}` },
  rx: { script: `sh tests/vm/guest/vfio_kernel_to_rx.sh ${COUNT}` },
});

Deno.test("lab VM + IOMMU: an unmapped IOVA faults, as a normal user", async (t) => {
  const out = await vm.section("fault");
  const dma = JSON.parse(field(out, "DMA_RESULT"));
  const peer = JSON.parse(field(out, "PEER_RESULT"));
  await t.step("the tool ran as nobody (uid 65534)", () => {
    assert.equal(dma.uid, 65534);
  });
  await t.step("frames from mapped memory arrived, the unmapped one did not", () => {
    assert.equal(peer.good, 2, JSON.stringify(peer));
    assert.equal(peer.distinct, 2);
    assert.equal(
      peer.outOfRange,
      0,
      "the frame at the unmapped IOVA (sequence 7) reached the peer",
    );
  });
  await t.step("the kernel reported a DMAR fault for the e1000", () => {
    assert.ok(Number(field(out, "DMAR_FAULTS")) >= 1, out);
    assert.match(out, /DMAR: \[DMA Read[^\n]*00:1e\.0/);
  });
  await t.step("the device went on after the fault", () => {
    assert.equal(dma.dd[0], true);
    assert.equal(dma.dd[2], true);
  });
});

Deno.test("lab VM + IOMMU: pktgen through VFIO -> kernel virtio_net peer", async (t) => {
  const out = await vm.section("pktgen");
  await t.step("the NIC was bound to vfio-pci and stayed there", () => {
    assert.equal(field(out, "DRIVER"), "vfio-pci");
    assert.equal(field(out, "DRIVER_AFTER"), "vfio-pci");
  });
  await t.step("as nobody: one clear line why a legacy virtio NIC needs root", () => {
    assert.notEqual(Number(field(out, "NOBODY_EXIT")), 0);
    assert.match(field(out, "NOBODY_OUTPUT"), /^error: .*legacy virtio device.*physical addresses/);
  });
  await t.step("the kernel peer received every frame", () => {
    const peer = JSON.parse(field(out, "PEER_RESULT"));
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, COUNT);
    assert.equal(peer.distinct, COUNT);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), COUNT);
  });
});

Deno.test("lab VM + IOMMU: kernel virtio_net -> our rxBatch through VFIO", async (t) => {
  const out = await vm.section("rx");
  const rx = JSON.parse(field(out, "RX_RESULT"));
  await t.step("every frame arrived once, byte-exact", () => {
    assert.equal(field(out, "DRIVER"), "vfio-pci");
    assert.equal(rx.bad, 0, `malformed frames: ${rx.badReasons}`);
    assert.equal(rx.good, COUNT);
    assert.equal(rx.distinct, COUNT);
    assert.equal(rx.mismatched, 0);
    assert.equal(rx.rxPackets, Number(field(out, "KERNEL_TX_PACKETS")));
  });
});

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
import { checkForwardOutput, field, SharedBoot } from "./lib.ts";

const COUNT = 2000;
/** Frames each way of the test without IOMMU. */
const SYSFS_COUNT = 500;

/**
 * q35 + intel-iommu, modern virtio NICs whose DMA the IOMMU translates; one
 * boot. pktgen and rxBatch use 00:10.0 (ours) and 00:11.0 (kernel) on hub 0;
 * fwd then joins 00:11.0 (ns A) and 00:13.0 (ns B) through X = 00:10.0, Y = 00:12.0.
 */
const iommu = new SharedBoot({ iommu: true, modernNics: true, nics: 4, hubs: [0, 0, 1, 1] }, {
  pktgen: { script: `sh tests/vm/guest/vfio_modern_pktgen_to_kernel.sh ${COUNT}` },
  rx: { script: `sh tests/vm/guest/vfio_modern_kernel_to_rx.sh ${COUNT}` },
  fwd: {
    script: "sh tests/vm/guest/forward.sh 1048576",
    env: {
      VFIO_AS_NOBODY: "1",
      A_PCI: "0000:00:11.0",
      X_PCI: "0000:00:10.0",
      Y_PCI: "0000:00:12.0",
      B_PCI: "0000:00:13.0",
    },
  },
});

/** Modern virtio NICs without IOMMU, as root over sysfs BARs; one boot. */
const sysfs = new SharedBoot({ modernNics: true }, {
  pktgen: { script: `sh tests/vm/guest/pktgen_to_kernel.sh ${SYSFS_COUNT}` },
  rx: { script: `sh tests/vm/guest/kernel_to_rx.sh ${SYSFS_COUNT}` },
});

Deno.test("lab VM + IOMMU, modern virtio: pktgen as nobody through VFIO -> kernel peer", async (t) => {
  const out = await iommu.section("pktgen");
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
  const out = await iommu.section("rx");
  const rx = JSON.parse(field(out, "RX_RESULT"));
  await t.step("every frame arrived once, byte-exact (12-byte virtio_net_hdr stripped)", () => {
    assert.equal(field(out, "DRIVER_OURS"), "vfio-pci");
    assert.equal(rx.bad, 0, `malformed frames: ${rx.badReasons}`);
    assert.equal(rx.deviceErrors, 0, JSON.stringify(rx));
    assert.equal(rx.good, COUNT, JSON.stringify(rx));
    assert.equal(rx.distinct, COUNT);
    assert.equal(rx.mismatched, 0);
    assert.equal(rx.rxPackets, Number(field(out, "KERNEL_TX_PACKETS")));
    assert.equal(Number(field(out, "DMAR_FAULTS")), 0);
  });
});

Deno.test("lab VM + IOMMU, modern virtio: fwd as nobody joins two kernel hosts", async (t) => {
  const out = await iommu.section("fwd");
  await t.step("both NICs through VFIO, fwd ran as nobody", () => {
    assert.equal(field(out, "DRIVER_X"), "vfio-pci");
    assert.equal(field(out, "DRIVER_Y"), "vfio-pci");
    assert.equal(Number(field(out, "FWD_UID")), 65534);
  });
  await t.step("ping, TCP with the same SHA-256, counters equal", () => {
    checkForwardOutput(out, 1048576);
  });
  await t.step("no DMAR fault", () => {
    assert.equal(Number(field(out, "DMAR_FAULTS")), 0);
  });
});

Deno.test("lab VM, modern virtio as root over sysfs BARs (no IOMMU): pktgen and rxBatch", async (t) => {
  const count = SYSFS_COUNT;
  await t.step("pktgen -> kernel peer: every frame", async () => {
    const out = await sysfs.section("pktgen");
    const peer = JSON.parse(field(out, "PEER_RESULT"));
    assert.equal(peer.bad, 0, `malformed frames: ${peer.badReasons}`);
    assert.equal(peer.good, count);
    assert.equal(Number(field(out, "KERNEL_RX_PACKETS")), count);
  });
  await t.step("kernel peer -> rxBatch: byte-exact", async () => {
    const out = await sysfs.section("rx");
    const rx = JSON.parse(field(out, "RX_RESULT"));
    assert.equal(rx.good, count);
    assert.equal(rx.mismatched, 0);
  });
});

/**
 * ixyInit's first step, identifying the device (drivers/mod.ts): the driver
 * table answers by PCI IDs, and a PCI function that is not a NIC is refused
 * for what it is before any DMA memory is set up — also by dmaAllocatorFor,
 * which the tools call first (issue: `pktgen 0000:00:00.0` answered with a
 * hugepage error). The sysfs cases use this machine's own host bridge at
 * 0000:00:00.0 and are skipped where there is none (the lab-VM test
 * tests/vm/guest/bad_input.sh checks the same without hugepages).
 */

import assert from "node:assert/strict";
import {
  checkArchitecture,
  dmaAllocatorFor,
  dmaAllocatorForAll,
  DRIVERS,
  findDriver,
  identify,
  ixyInit,
} from "../../drivers/mod.ts";
import { IxyError } from "../../src/error.ts";

Deno.test("driver table: PCI IDs pick the driver, unknown IDs none", () => {
  assert.equal(findDriver(0x8086, 0x10fb)?.name, "ixgbe");
  assert.equal(findDriver(0x1af4, 0x1000)?.name, "virtio");
  assert.equal(findDriver(0x1af4, 0x1041)?.name, "virtio");
  assert.equal(findDriver(0x1af4, 0x1042), undefined, "virtio-blk is not a NIC we drive");
  assert.equal(findDriver(0x8086, 0x100e)?.name, "e1000", "82540EM, QEMU -device e1000");
  assert.equal(findDriver(0x8086, 0x100f)?.name, "e1000", "82545EM, QEMU -device e1000-82545em");
  assert.equal(findDriver(0x8086, 0x100c), undefined, "82544GC (e1000-82544gc): not claimed");
  assert.equal(findDriver(0x8086, 0x10c9)?.name, "igb", "82576, QEMU -device igb");
  assert.equal(findDriver(0x8086, 0x10ca), undefined, "82576 VF: not claimed");
  assert.equal(findDriver(0x10ec, 0x8139), undefined, "RTL8139: no driver of ours");
  for (const d of DRIVERS) {
    assert.ok(d.deviceIds.length > 0, d.name);
    for (const id of d.deviceIds) assert.equal(findDriver(d.vendorId, id), d, "one driver per ID");
  }
});

/** The class byte of 0000:00:00.0 on this machine, or undefined. */
function hostBridgeClass(): number | undefined {
  try {
    return Number(Deno.readTextFileSync("/sys/bus/pci/devices/0000:00:00.0/class").trim()) >> 16;
  } catch {
    return undefined;
  }
}

const bridge = hostBridgeClass();

Deno.test({
  name: "dmaAllocatorFor and ixyInit refuse a host bridge as not a NIC, before any DMA memory",
  ignore: bridge === undefined || bridge === 0x02,
  fn() {
    const notANic = (e: unknown) =>
      e instanceof IxyError && /^0000:00:00\.0 is not a network controller/.test(e.message);
    assert.throws(() => identify("0000:00:00.0"), notANic);
    // Without the fix this returned a hugepage allocator, or threw a hugepage error.
    assert.throws(() => dmaAllocatorFor("0000:00:00.0"), notANic);
    assert.throws(() => ixyInit("0000:00:00.0"), notANic);
  },
});

Deno.test("the same NIC twice is refused before anything is touched (fwd X X)", () => {
  for (const pair of [["0000:00:10.0", "0000:00:10.0"], ["00:10.0", "0000:00:10.0"]]) {
    assert.throws(
      () => dmaAllocatorForAll(pair),
      (e: unknown) => e instanceof IxyError && /0000:00:10\.0 is given twice/.test(e.message),
    );
  }
});

Deno.test("ixyInit drives NICs on x86-64 only: the memory-order argument of src/mmio.ts", () => {
  checkArchitecture("x86_64");
  for (const arch of ["aarch64", "riscv64"]) {
    assert.throws(
      () => checkArchitecture(arch),
      (e: unknown) =>
        e instanceof IxyError && e.message.includes(`x86-64 only (this is ${arch})`) &&
        e.message.includes("src/mmio.ts"),
    );
  }
});

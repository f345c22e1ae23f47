/**
 * src/vfio.ts's error texts: VFIO_SET_IOMMU's EPERM comes from a host without
 * interrupt remapping (the IOMMU is on, or the group would not exist), so it
 * must not say "enable the IOMMU" (issue 20: it did).
 */

import assert from "node:assert/strict";
import { setIommuError } from "../../src/vfio.ts";
import { LIBC } from "../../src/ffi.ts";

Deno.test("VFIO_SET_IOMMU EPERM names interrupt remapping, its risk and dmesg", () => {
  const e = setIommuError(LIBC.EPERM);
  assert.equal(e.errno, LIBC.EPERM);
  assert.match(e.message, /interrupt remapping/);
  assert.match(e.message, /intremap=on/);
  assert.match(e.message, /allow_unsafe_interrupts=1/);
  assert.match(e.message, /dmesg/);
  assert.doesNotMatch(e.message, /Enable the IOMMU/);
});

Deno.test("VFIO_SET_IOMMU's other errors still say how to enable the IOMMU", () => {
  const e = setIommuError(19); // ENODEV: no Type1 backend
  assert.match(e.message, /Enable the IOMMU/);
});

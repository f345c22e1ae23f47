/**
 * Lab 1, reference solution: the project's own code. `parseConfig` is
 * `parseConfigHeader` of src/pci.ts (what `PciDevice` decodes a config space
 * with); `readMac` and `readLinkSpeed` are the functions of
 * drivers/ixgbe/ixgbe.ts behind `IxgbeDevice.getMacAddress` and
 * `getLinkSpeed`. Read them there.
 *
 * @module
 */

export { parseConfigHeader as parseConfig } from "../../../src/pci.ts";
export { readLinkSpeed, readMac } from "../../../drivers/ixgbe/ixgbe.ts";

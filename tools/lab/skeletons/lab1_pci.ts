// deno-lint-ignore-file no-unused-vars -- a skeleton: the TODOs use them.
/**
 * Lab 1 skeleton: copy to tools/lab/mine/lab1_pci.ts, fill in the TODOs, then
 * `deno task lab 1 --impl tools/lab/mine/lab1_pci.ts`. See docs/labs/lab1_pci.md.
 *
 * @module
 */

import type { RegisterSpace } from "../../../src/mmio.ts";
import type { ConfigHeader } from "../contract.ts";

/** Decodes the first 64 bytes of a configuration space (PCI 3.0, 6.1). */
export function parseConfig(config: Uint8Array): ConfigHeader {
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  // TODO: little-endian fields; BAR0 at 0x10: bit 0 = I/O, flags in bits 1:0 (I/O) or 3:0 (memory).
  return {
    vendorId: 0,
    deviceId: 0,
    baseClass: 0,
    busMaster: false,
    bar0Address: 0,
    bar0Io: false,
  };
}

/** The MAC address in RAL(0) / RAH(0) (82599 8.2.3.7.9-10). */
export function readMac(regs: RegisterSpace): Uint8Array {
  // TODO: regs.read32(IXGBE_RAL(0)) holds bytes 0-3 (byte 0 lowest), RAH(0) bytes 4-5.
  return new Uint8Array(6);
}

/** Link speed in Mbit/s from LINKS (82599 8.2.3.22.20); 0 while down. */
export function readLinkSpeed(regs: RegisterSpace): number {
  // TODO: IXGBE_LINKS, IXGBE_LINKS_BITS in drivers/ixgbe/constants.ts.
  return 0;
}

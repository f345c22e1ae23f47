/**
 * Lab 1, reference solution: decoding a PCI configuration space, and reading
 * the MAC address and the link state of an 82599 through BAR0 — what
 * src/pci.ts (`PciDevice`) and drivers/ixgbe/ixgbe.ts (`getMacAddress`,
 * `getLinkSpeed`) do.
 *
 * @module
 */

import type { RegisterSpace } from "../../../src/mmio.ts";
import { PCI_COMMAND, PCI_CONFIG } from "../../../src/pci.ts";
import {
  IXGBE_LINKS,
  IXGBE_LINKS_BITS,
  IXGBE_RAH,
  IXGBE_RAL,
} from "../../../drivers/ixgbe/constants.ts";
import type { ConfigHeader } from "../contract.ts";

/** Offset of BAR0 in config space (PCI 3.0, 6.2.5). */
const BAR0 = 0x10;

/** Decodes IDs, class, bus mastering and BAR0 (PCI 3.0, 6.1, 6.2.2, 6.2.5); all little-endian. */
export function parseConfig(config: Uint8Array): ConfigHeader {
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const bar0 = v.getUint32(BAR0, true);
  const io = (bar0 & 1) === 1;
  return {
    vendorId: v.getUint16(PCI_CONFIG.VENDOR_ID, true),
    deviceId: v.getUint16(PCI_CONFIG.DEVICE_ID, true),
    baseClass: v.getUint8(PCI_CONFIG.CLASS_BASE),
    busMaster: (v.getUint16(PCI_CONFIG.COMMAND, true) & PCI_COMMAND.BUS_MASTER) !== 0,
    // I/O BARs keep flags in bits 1:0, memory BARs in bits 3:0.
    bar0Address: (bar0 & (io ? ~0x3 : ~0xf)) >>> 0,
    bar0Io: io,
  };
}

/** The MAC address in RAL/RAH(0) (82599 8.2.3.7.9-10), byte 0 in the lowest bits of RAL. */
export function readMac(regs: RegisterSpace): Uint8Array {
  const lo = regs.read32(IXGBE_RAL(0));
  const hi = regs.read32(IXGBE_RAH(0));
  return Uint8Array.of(
    lo & 0xff,
    (lo >>> 8) & 0xff,
    (lo >>> 16) & 0xff,
    lo >>> 24,
    hi & 0xff,
    (hi >>> 8) & 0xff,
  );
}

/** Link speed from LINKS (82599 8.2.3.22.20): 0 while down, else 100, 1000 or 10000. */
export function readLinkSpeed(regs: RegisterSpace): number {
  const links = regs.read32(IXGBE_LINKS);
  if ((links & IXGBE_LINKS_BITS.UP) === 0) return 0;
  switch ((links & IXGBE_LINKS_BITS.SPEED_82599) >>> 0) {
    case IXGBE_LINKS_BITS.SPEED_10G_82599:
      return 10000;
    case IXGBE_LINKS_BITS.SPEED_1G_82599:
      return 1000;
    case IXGBE_LINKS_BITS.SPEED_100_82599:
      return 100;
    default:
      return 0;
  }
}

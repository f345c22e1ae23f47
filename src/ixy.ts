/**
 * `ixyInit`: from a PCI address to a running device — ixy's `ixy_init`.
 *
 * It checks everything it can *before* it touches the device (address,
 * presence, class, a supported driver, a kernel interface still in use, DMA
 * memory), so a mistake costs nothing. Only then does it unbind the kernel
 * driver, enable DMA and hand over to the driver; if the driver fails, the
 * device is given back to the kernel driver it came from.
 *
 * @module
 */

import type { DeviceOptions, IxyDevice } from "./device.ts";
import { type DmaAllocator, HugepageAllocator } from "./memory.ts";
import { PciDevice } from "./pci.ts";
import { IxyError } from "./error.ts";
import {
  VIRTIO_PCI_DEVICE_NET_LEGACY,
  VIRTIO_PCI_DEVICE_NET_MODERN,
  VIRTIO_PCI_VENDOR_ID,
} from "../drivers/virtio/constants.ts";
import { VirtioDevice } from "../drivers/virtio/virtio.ts";
import { IXGBE_DEVICE_IDS, IXGBE_VENDOR_ID } from "../drivers/ixgbe/constants.ts";
import { IxgbeDevice } from "../drivers/ixgbe/ixgbe.ts";

/** Options for {@link ixyInit}. */
export interface IxyInitOptions extends DeviceOptions {
  /** Where DMA memory comes from; default: hugepages ({@link HugepageAllocator}). */
  dma?: DmaAllocator;
}

/** Linux interface flag IFF_UP (include/uapi/linux/if.h). */
const IFF_UP = 0x1;

/** Kernel interfaces of `pci` that are up (administratively). */
function interfacesUp(pci: PciDevice): string[] {
  return pci.netInterfaces().filter((name) => {
    try {
      return (Number(Deno.readTextFileSync(`/sys/class/net/${name}/flags`).trim()) & IFF_UP) !== 0;
    } catch {
      return false;
    }
  });
}

/**
 * Opens the NIC at `pciAddress`, picks its driver from the PCI IDs, and
 * initialises it. Throws an {@link IxyError} (with what to do) on bad input.
 */
export function ixyInit(pciAddress: string, options: IxyInitOptions = {}): IxyDevice {
  const pci = PciDevice.open(pciAddress);
  pci.requireNetworkController();
  const init = pickDriver(pci);
  const busy = interfacesUp(pci);
  if (busy.length > 0 && !options.force) {
    throw new IxyError(
      `${pci.address} is in use by the kernel as ${busy.join(", ")} (interface up): refusing ` +
        `to take it. Take it down first (ip link set ${busy[0]} down) or pass --force.`,
    );
  }
  const dma = options.dma ?? HugepageAllocator.open();

  // From here on we change the device; undo the unbind if anything fails.
  pci.unbindDriver();
  try {
    pci.enableBusMastering();
    return init(pci, dma, options);
  } catch (e) {
    try {
      pci.rebindDriver();
    } catch { /* report the original error */ }
    throw e;
  }
}

type DriverInit = (pci: PciDevice, dma: DmaAllocator, options: DeviceOptions) => IxyDevice;

/** The driver for a device's PCI IDs, or an error naming what we support. */
function pickDriver(pci: PciDevice): DriverInit {
  if (pci.vendorId === IXGBE_VENDOR_ID && IXGBE_DEVICE_IDS.includes(pci.deviceId)) {
    return IxgbeDevice.init;
  }
  if (pci.vendorId === VIRTIO_PCI_VENDOR_ID) {
    if (pci.deviceId === VIRTIO_PCI_DEVICE_NET_LEGACY) return VirtioDevice.init;
    if (pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN) {
      throw new IxyError(
        `${pci.address} is a modern-only virtio NIC (${pci.ids}); this driver speaks the legacy ` +
          `interface. Start QEMU with -device virtio-net-pci,disable-legacy=off (the default).`,
      );
    }
  }
  throw new IxyError(
    `${pci.address} (${pci.ids}) is not supported: ixy.ts drives virtio-net (1af4:1000) and ` +
      `Intel 82599-family NICs (8086:10fb and relatives). ` +
      `Check the IDs with: lspci -nn -s ${pci.address}`,
  );
}

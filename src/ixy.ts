/**
 * `ixyInit`: from a PCI address to a running device — ixy's `ixy_init`.
 *
 * It checks everything it can *before* it touches the device (address,
 * presence, class, a supported driver, a kernel interface still in use, DMA
 * memory), so a mistake costs nothing. Only then does it unbind the kernel
 * driver, enable DMA and hand over to the driver; if the driver fails, the
 * device is given back to the kernel driver it came from.
 *
 * A device bound to vfio-pci (tools/bind.ts) is opened through VFIO instead
 * (src/vfio.ts): no root needed, registers through the VFIO device fd, DMA
 * memory mapped into the IOMMU. {@link dmaAllocatorFor} picks the matching
 * DMA memory for the tools' own buffers.
 *
 * @module
 */

import type { DeviceOptions, IxyDevice } from "./device.ts";
import { type DmaAllocator, HugepageAllocator } from "./memory.ts";
import { PciDevice } from "./pci.ts";
import { IxyError } from "./error.ts";
import { VfioDmaAllocator, VfioPciDevice } from "./vfio.ts";
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
  if (pci.driver === "vfio-pci") return initVfio(pci, options);
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

/**
 * Whether DMA of the device at `pci` goes through the IOMMU. A legacy virtio
 * device cannot offer VIRTIO_F_ACCESS_PLATFORM (feature bit 33; the legacy
 * interface has 32), and without it "the device will always use physical
 * addresses" (virtio 1.1, section 6.1): it bypasses the IOMMU even when
 * reached through VFIO (QEMU refuses `iommu_platform=on` for it).
 */
function dmaThroughIommu(pci: PciDevice): boolean {
  return pci.vendorId !== VIRTIO_PCI_VENDOR_ID;
}

/**
 * The DMA memory to use with the NIC at `pciAddress` (for the driver and the
 * caller's own mempools): with a device bound to vfio-pci whose DMA the IOMMU
 * translates, hugepages mapped through VFIO at IOVA = virtual address
 * ({@link VfioDmaAllocator}, no root); otherwise hugepages with physical
 * addresses ({@link HugepageAllocator}, root). Pass the same allocator to
 * {@link ixyInit} as `dma`; two NICs share one (one VFIO container).
 */
export function dmaAllocatorFor(pciAddress: string): DmaAllocator {
  const pci = PciDevice.open(pciAddress);
  if (pci.driver === "vfio-pci" && dmaThroughIommu(pci)) {
    // The container's IOMMU is chosen once a group is attached: open the device first.
    VfioPciDevice.open(pci.address);
    return VfioDmaAllocator.open();
  }
  if (pci.driver === "vfio-pci") {
    try {
      return HugepageAllocator.open();
    } catch (e) {
      throw new IxyError(
        `${pci.address} (${pci.ids}) is bound to vfio-pci, but it is a legacy virtio device: ` +
          `it cannot use the IOMMU (virtio 1.1 section 6.1: without VIRTIO_F_ACCESS_PLATFORM, ` +
          `which the legacy interface cannot offer, the device uses physical addresses), so its ` +
          `DMA memory needs physical addresses, which only root may see. Run as root. (${
            (e as Error).message
          })`,
      );
    }
  }
  return HugepageAllocator.open();
}

/**
 * The VFIO path of {@link ixyInit}: the device fd gives config space (bus
 * mastering), BAR0 (ixgbe: mmap) or the legacy I/O BAR (virtio: pread/pwrite
 * on region 0); the drivers' `attach` take these instead of sysfs files.
 * The device stays bound to vfio-pci whatever happens.
 */
function initVfio(pci: PciDevice, options: IxyInitOptions): IxyDevice {
  const vfio = VfioPciDevice.open(pci.address);
  const dma = options.dma ?? dmaAllocatorFor(pci.address);
  if (!dmaThroughIommu(pci) && dma instanceof VfioDmaAllocator) {
    throw new IxyError(
      `${pci.address} is a legacy virtio device, whose DMA bypasses the IOMMU: IOVAs from ` +
        `VfioDmaAllocator would be wrong. Use dmaAllocatorFor(address) or HugepageAllocator.`,
    );
  }
  vfio.enableBusMastering();
  const name = pci.address;
  // Interrupts: VFIO_DEVICE_SET_IRQS enables MSI-X, one eventfd per RX queue (src/interrupts.ts).
  const vectors = options.interrupts ? vfio.enableMsix(options.rxQueues ?? 1) : undefined;
  if (pci.vendorId === VIRTIO_PCI_VENDOR_ID) {
    // MSI-X is off until VFIO_DEVICE_SET_IRQS turns it on: config at 0x14, else 0x18.
    return VirtioDevice.attach(vfio.ioRegion(0), dma, {
      ...options,
      name,
      msixEnabled: vectors !== undefined,
      interruptVector: vectors?.[0],
    });
  }
  return IxgbeDevice.attach(vfio.mapBar(0), dma, { ...options, name, interruptVectors: vectors });
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

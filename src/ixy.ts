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
 * Virtio NICs: over VFIO the modern transport (drivers/virtio/modern.ts) is
 * preferred when the device has it, since only a modern device can offer
 * VIRTIO_F_ACCESS_PLATFORM, i.e. DMA through the IOMMU (virtio 1.1 section 6.1).
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
import type { VirtioTransportKind } from "../drivers/virtio/transport.ts";
import {
  findVirtioPciCapabilities,
  VirtioModernTransport,
  type VirtioPciCapabilities,
} from "../drivers/virtio/modern.ts";
import { VIRTIO_F } from "../drivers/virtio/constants.ts";
import { IXGBE_DEVICE_IDS, IXGBE_VENDOR_ID } from "../drivers/ixgbe/constants.ts";
import { IxgbeDevice } from "../drivers/ixgbe/ixgbe.ts";
import { IGB_DEVICE_IDS, IGB_VENDOR_ID } from "../drivers/igb/constants.ts";
import { IgbDevice } from "../drivers/igb/igb.ts";

/** Options for {@link ixyInit}. */
export interface IxyInitOptions extends DeviceOptions {
  /** Where DMA memory comes from; default: hugepages ({@link HugepageAllocator}). */
  dma?: DmaAllocator;
  /**
   * Virtio only: the PCI interface to speak. Default: over VFIO modern when
   * the device has it; otherwise modern for modern-only devices (1af4:1041)
   * and devices without a legacy I/O BAR, legacy for the rest.
   */
  transport?: "legacy" | "modern";
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

/** How a virtio device bound to vfio-pci will be driven, and whether its DMA uses the IOMMU. */
interface VirtioVfioPlan {
  /** The transport ixyInit will use. */
  transport: VirtioTransportKind;
  /** The modern structures (when `transport` is modern). */
  capabilities?: VirtioPciCapabilities;
  /** True if the device offers VIRTIO_F_ACCESS_PLATFORM (modern only), which we accept. */
  iommu: boolean;
}

/**
 * Decides the transport of a virtio NIC bound to vfio-pci: modern when the
 * device has the virtio structure capabilities (virtio 1.1 section 4.1.4; read
 * through VFIO's config region, which a normal user may read in full) and
 * `transport` is not "legacy". Its DMA goes through the IOMMU only if the
 * device offers VIRTIO_F_ACCESS_PLATFORM (bit 33, section 6.1; QEMU:
 * `iommu_platform=on`): we read the second feature word
 * (device_feature_select = 1, section 4.1.4.3). Without it — or on the
 * legacy interface, which cannot offer bit 33 — "the device will always use
 * physical addresses" and bypasses the IOMMU.
 */
function planVirtioVfio(
  pci: PciDevice,
  vfio: VfioPciDevice,
  transport: VirtioTransportKind | undefined,
): VirtioVfioPlan {
  const config = vfio.config;
  const capabilities = transport === "legacy" ? undefined : findVirtioPciCapabilities(
    (offset, size) =>
      size === 1
        ? config.read8(offset)
        : size === 2
        ? config.read16(offset)
        : config.read32(offset),
  );
  if (capabilities === undefined) {
    if (transport === "modern" || pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN) {
      throw new IxyError(
        `Cannot drive ${pci.address} (${pci.ids}) with the modern virtio transport: its config ` +
          `space has no virtio structure capabilities (virtio 1.1 section 4.1.4). It is a ` +
          `legacy-only device (QEMU: disable-modern=on); leave out transport: "modern".`,
      );
    }
    return { transport: "legacy", iommu: false };
  }
  const probe = VirtioModernTransport.open({
    name: pci.address,
    capabilities,
    mapBar: (n) => vfio.mapBar(n),
  });
  const iommu = (probe.deviceFeatures() & (1n << BigInt(VIRTIO_F.ACCESS_PLATFORM))) !== 0n;
  return { transport: "modern", capabilities, iommu };
}

const NO_IOMMU_HINT = `Run as root, or give the NIC VIRTIO_F_ACCESS_PLATFORM: QEMU ` +
  `-device virtio-net-pci,disable-legacy=on,iommu_platform=on (lab VM: deno task vm --iommu ` +
  `--modern-nics).`;

/**
 * The DMA memory to use with the NIC at `pciAddress` (for the driver and the
 * caller's own mempools): with a device bound to vfio-pci whose DMA the IOMMU
 * translates, hugepages mapped through VFIO at IOVA = virtual address
 * ({@link VfioDmaAllocator}, no root); otherwise hugepages with physical
 * addresses ({@link HugepageAllocator}, root). Pass the same allocator to
 * {@link ixyInit} as `dma`; two NICs share one (one VFIO container).
 *
 * A virtio NIC's DMA goes through the IOMMU only on the modern transport
 * with VIRTIO_F_ACCESS_PLATFORM offered (virtio 1.1 section 6.1).
 */
export function dmaAllocatorFor(
  pciAddress: string,
  options: {
    /** The virtio transport {@link ixyInit} will be told to use (same default). */
    transport?: "legacy" | "modern";
  } = {},
): DmaAllocator {
  const pci = PciDevice.open(pciAddress);
  if (pci.driver !== "vfio-pci") return HugepageAllocator.open();
  // The container's IOMMU is chosen once a group is attached: open the device first.
  const vfio = VfioPciDevice.open(pci.address);
  if (pci.vendorId !== VIRTIO_PCI_VENDOR_ID) return VfioDmaAllocator.open();
  const plan = planVirtioVfio(pci, vfio, options.transport);
  if (plan.iommu) return VfioDmaAllocator.open();
  try {
    return HugepageAllocator.open();
  } catch (e) {
    const why = plan.transport === "legacy"
      ? `it is a legacy virtio device: it cannot use the IOMMU (virtio 1.1 section 6.1: ` +
        `without VIRTIO_F_ACCESS_PLATFORM, which the legacy interface cannot offer, the ` +
        `device uses physical addresses)`
      : `this modern virtio device does not offer VIRTIO_F_ACCESS_PLATFORM (virtio 1.1 ` +
        `section 6.1), so its DMA bypasses the IOMMU and uses physical addresses`;
    throw new IxyError(
      `${pci.address} (${pci.ids}) is bound to vfio-pci, but ${why}; its DMA memory needs ` +
        `physical addresses, which only root may see. ${NO_IOMMU_HINT} (${(e as Error).message})`,
    );
  }
}

/**
 * The VFIO path of {@link ixyInit}: the device fd gives config space (bus
 * mastering), BAR0 (ixgbe: mmap), the legacy I/O BAR (virtio legacy:
 * pread/pwrite on region 0) or the memory BAR of the virtio structures
 * (virtio modern: mmap); the drivers take these instead of sysfs files.
 * The device stays bound to vfio-pci whatever happens.
 */
function initVfio(pci: PciDevice, options: IxyInitOptions): IxyDevice {
  const vfio = VfioPciDevice.open(pci.address);
  const plan = pci.vendorId === VIRTIO_PCI_VENDOR_ID
    ? planVirtioVfio(pci, vfio, options.transport)
    : undefined;
  const dma = options.dma ?? dmaAllocatorFor(pci.address, { transport: options.transport });
  if (plan && !plan.iommu && dma instanceof VfioDmaAllocator) {
    throw new IxyError(
      `${pci.address} is a virtio device whose DMA bypasses the IOMMU (${plan.transport} ` +
        `interface${plan.transport === "modern" ? " without VIRTIO_F_ACCESS_PLATFORM" : ""}): ` +
        `IOVAs from VfioDmaAllocator would be wrong. Use dmaAllocatorFor(address) or ` +
        `HugepageAllocator. ${NO_IOMMU_HINT}`,
    );
  }
  vfio.enableBusMastering();
  const name = pci.address;
  // Interrupts: VFIO_DEVICE_SET_IRQS enables MSI-X, one eventfd per RX queue (src/interrupts.ts).
  const vectors = options.interrupts ? vfio.enableMsix(options.rxQueues ?? 1) : undefined;
  if (plan) {
    const attachOptions = {
      ...options,
      name,
      msixEnabled: vectors !== undefined,
      interruptVector: vectors?.[0],
    };
    if (plan.capabilities) {
      const transport = VirtioModernTransport.open({
        name,
        capabilities: plan.capabilities,
        mapBar: (n) => vfio.mapBar(n),
      });
      return VirtioDevice.attachTransport(transport, dma, attachOptions);
    }
    // MSI-X is off until VFIO_DEVICE_SET_IRQS turns it on: config at 0x14, else 0x18.
    return VirtioDevice.attach(vfio.ioRegion(0), dma, attachOptions);
  }
  const attach = isIgb(pci) ? IgbDevice.attach : IxgbeDevice.attach;
  return attach(vfio.mapBar(0), dma, { ...options, name, interruptVectors: vectors });
}

type DriverInit = (pci: PciDevice, dma: DmaAllocator, options: IxyInitOptions) => IxyDevice;

/** Intel 82576 (igb) IDs we drive. */
function isIgb(pci: PciDevice): boolean {
  return pci.vendorId === IGB_VENDOR_ID && IGB_DEVICE_IDS.includes(pci.deviceId);
}

/** The driver for a device's PCI IDs, or an error naming what we support. */
function pickDriver(pci: PciDevice): DriverInit {
  if (pci.vendorId === IXGBE_VENDOR_ID && IXGBE_DEVICE_IDS.includes(pci.deviceId)) {
    return IxgbeDevice.init;
  }
  if (isIgb(pci)) return IgbDevice.init;
  if (pci.vendorId === VIRTIO_PCI_VENDOR_ID) {
    if (
      pci.deviceId === VIRTIO_PCI_DEVICE_NET_LEGACY || pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN
    ) {
      return VirtioDevice.init;
    }
  }
  throw new IxyError(
    `${pci.address} (${pci.ids}) is not supported: ixy.ts drives virtio-net (1af4:1000, 1af4:1041) and ` +
      `Intel 82599-family NICs (8086:10fb and relatives) and the Intel 82576 (8086:10c9). ` +
      `Check the IDs with: lspci -nn -s ${pci.address}`,
  );
}

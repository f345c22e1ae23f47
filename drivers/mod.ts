/**
 * `ixyInit`: from a PCI address to a running device — ixy's `ixy_init`
 * (which lives in ixy's `driver/device.c`, beside the drivers, as this does).
 *
 * It identifies the device *before* it touches it or allocates anything
 * (address, presence, class, a driver in {@link DRIVERS}, a kernel interface
 * still in use), so a mistake costs nothing. Only then does it take the
 * device from its kernel driver, enable DMA and call the driver's `open`; if
 * the driver fails, the device is given back to the kernel driver it came
 * from.
 *
 * A device bound to vfio-pci (tools/bind.ts) is reached through VFIO instead
 * (src/vfio.ts): no root needed, registers through the VFIO device fd, DMA
 * memory mapped into the IOMMU. Either way the driver gets one
 * {@link PciFunction} and does not need to know which. {@link dmaAllocatorFor}
 * picks the matching DMA memory for the tools' own buffers.
 *
 * @module
 */

import type { DeviceOptions, IxyDevice, PciFunction } from "../src/device.ts";
import { type DmaAllocator, HugepageAllocator } from "../src/memory.ts";
import { parsePciAddress, PciDevice } from "../src/pci.ts";
import { IxyError } from "../src/error.ts";
import type { InterruptVector } from "../src/interrupts.ts";
import { VfioDmaAllocator, VfioPciDevice } from "../src/vfio.ts";
import { atExit } from "../src/exit_guard.ts";
import {
  VIRTIO_PCI_DEVICE_NET_LEGACY,
  VIRTIO_PCI_DEVICE_NET_MODERN,
  VIRTIO_PCI_VENDOR_ID,
} from "./virtio/constants.ts";
import { VirtioDevice } from "./virtio/virtio.ts";
import { IXGBE_DEVICE_IDS, IXGBE_VENDOR_ID } from "./ixgbe/constants.ts";
import { IxgbeDevice } from "./ixgbe/ixgbe.ts";
import { E1000_DEVICE_IDS, E1000_VENDOR_ID } from "./e1000/constants.ts";
import { E1000Device } from "./e1000/e1000.ts";
import { IGB_DEVICE_IDS, IGB_VENDOR_ID } from "./igb/constants.ts";
import { IgbDevice } from "./igb/igb.ts";

/** Options for {@link ixyInit}. */
export interface IxyInitOptions extends DeviceOptions {
  /**
   * Where DMA memory comes from; default: hugepages ({@link HugepageAllocator})
   * as root, {@link dmaAllocatorFor}'s choice over VFIO.
   */
  dma?: DmaAllocator;
  /**
   * Virtio only: the PCI interface to speak. Default: over VFIO modern when
   * the device has it; otherwise modern for modern-only devices (1af4:1041)
   * and devices without a legacy I/O BAR, legacy for the rest.
   */
  transport?: "legacy" | "modern";
}

/** One driver family: the PCI IDs it drives and how it brings a device up. */
export interface IxyDriver {
  /** The driver's name (`IxyDevice.driverName`). */
  readonly name: string;
  /** PCI vendor ID of the devices it drives. */
  readonly vendorId: number;
  /** PCI device IDs (of that vendor) it drives. */
  readonly deviceIds: readonly number[];
  /** Brings the device up: `pci` is identified, taken from the kernel, bus master on. */
  open(pci: PciFunction, options: IxyInitOptions): IxyDevice;
  /**
   * Why the device's DMA would bypass the IOMMU over VFIO (see
   * {@link PciFunction.dmaAllocator}), asked by {@link dmaAllocatorFor} before
   * `open`; omitted: it never does.
   */
  iommuBypass?(pci: PciFunction, options: IxyInitOptions): string | undefined;
  /**
   * False when the driver offers no receive interrupts (the device has no
   * MSI-X, e.g. the 82540EM's INTx pin only): {@link ixyInit} then asks VFIO
   * for no vectors, and `interrupts: true` leaves `IxyDevice.interrupts`
   * undefined (the apps poll). Default true.
   */
  readonly msix?: boolean;
}

/**
 * The drivers, keyed by PCI IDs: a new driver family is one line here.
 * ixyInit takes the first whose vendor and device IDs match.
 */
export const DRIVERS: readonly IxyDriver[] = [
  { name: "ixgbe", vendorId: IXGBE_VENDOR_ID, deviceIds: IXGBE_DEVICE_IDS, open: IxgbeDevice.open },
  {
    name: "virtio",
    vendorId: VIRTIO_PCI_VENDOR_ID,
    deviceIds: [VIRTIO_PCI_DEVICE_NET_LEGACY, VIRTIO_PCI_DEVICE_NET_MODERN],
    open: VirtioDevice.open,
    iommuBypass: VirtioDevice.iommuBypass,
  },
  {
    name: "e1000",
    vendorId: E1000_VENDOR_ID,
    deviceIds: E1000_DEVICE_IDS,
    open: E1000Device.open,
    msix: false,
  },
  { name: "igb", vendorId: IGB_VENDOR_ID, deviceIds: IGB_DEVICE_IDS, open: IgbDevice.open },
];

/** The driver for `vendorId:deviceId`, or undefined. */
export function findDriver(vendorId: number, deviceId: number): IxyDriver | undefined {
  return DRIVERS.find((d) => d.vendorId === vendorId && d.deviceIds.includes(deviceId));
}

/**
 * Step 0 of everything: what is at `pciAddress`? Throws an {@link IxyError}
 * unless it is a network controller that a driver of {@link DRIVERS} drives.
 * Reads config space only: nothing is changed, nothing allocated.
 */
export function identify(pciAddress: string): { pci: PciDevice; driver: IxyDriver } {
  const pci = PciDevice.open(pciAddress);
  pci.requireNetworkController();
  const driver = findDriver(pci.vendorId, pci.deviceId);
  if (driver === undefined) {
    throw new IxyError(
      `${pci.address} (${pci.ids}) is not supported: ixy.ts drives ${
        DRIVERS.map(describe).join(
          "; ",
        )
      }. Check the IDs with: lspci -nn -s ${pci.address}`,
    );
  }
  return { pci, driver };
}

/** "ixgbe (8086:10fb and 14 more)": a driver and its IDs, for error messages. */
function describe(d: IxyDriver): string {
  const hex = (n: number) => n.toString(16).padStart(4, "0");
  const ids = d.deviceIds.map((id) => `${hex(d.vendorId)}:${hex(id)}`);
  return `${d.name} (${ids.length > 2 ? `${ids[0]} and ${ids.length - 1} more` : ids.join(", ")})`;
}

/**
 * The devices {@link ixyInit} started in this process and that are not
 * closed yet, by PCI address: a device's `close()` ends with
 * `PciFunction.disableBusMastering()`, which takes it out of this table.
 */
const openDevices = new Map<string, IxyDevice>();

/**
 * At exit, however it happens (src/exit_guard.ts), every device still open
 * is closed: its queues stop, it is reset, Bus Master Enable goes off. Only
 * then does its DMA memory go back to the kernel.
 */
function quietOpenDevices(): void {
  for (const [address, dev] of openDevices) {
    try {
      dev.close();
      console.error(`${address}: stopped at exit (device reset, bus mastering off)`);
    } catch (e) {
      console.error(`${address}: could not be stopped at exit: ${(e as Error).message}`);
    }
  }
  openDevices.clear();
}

/**
 * Memory ordering: src/mmio.ts argues that a plain store to DMA memory is
 * seen by the device before a later register write, which holds on x86-64
 * (TSO: stores are not reordered with other stores). arm64 needs barriers
 * (Linux's dma_wmb()) that JavaScript cannot express yet, so we refuse
 * rather than corrupt descriptors now and then.
 */
export function checkArchitecture(arch: string = Deno.build.arch): void {
  if (arch === "x86_64") return;
  throw new IxyError(
    `ixy.ts drives NICs on x86-64 only (this is ${arch}): its register and descriptor writes ` +
      `rely on x86-64's store order (src/mmio.ts). Use the software 82599 (deno task demo ` +
      `--sim) or an x86-64 machine.`,
  );
}

/**
 * Opens the NIC at `pciAddress`, picks its driver from the PCI IDs, and
 * initialises it. Throws an {@link IxyError} (with what to do) on bad input.
 *
 * From the moment bus mastering is on, the device is in the table of open
 * devices: if the process ends without `close()` (an error, Ctrl-C, SIGTERM),
 * the exit guard closes it.
 */
export function ixyInit(pciAddress: string, options: IxyInitOptions = {}): IxyDevice {
  checkArchitecture();
  const { pci, driver } = identify(pciAddress);
  if (openDevices.has(pci.address)) {
    throw new IxyError(
      `${pci.address} is already open in this process: one driver per device. ` +
        `Give two different NICs (each PCI address once).`,
    );
  }
  atExit(quietOpenDevices);
  if (pci.driver === "vfio-pci") {
    const vfio = VfioPciDevice.open(pci.address);
    vfio.enableBusMastering();
    // MSI-X is off until VFIO_DEVICE_SET_IRQS turns it on: one eventfd per RX
    // queue (src/interrupts.ts). A driver without MSI-X polls.
    const vectors = options.interrupts && driver.msix !== false
      ? vfio.enableMsix(options.rxQueues ?? 1)
      : undefined;
    const fn = vfioFunction(pci, vfio, vectors, options.dma);
    try {
      return track(fn, driver.open(fn, options));
    } catch (e) {
      fn.disableBusMastering();
      throw e;
    }
  }
  if (!options.force) pci.requireInterfacesDown();
  if (options.dma instanceof VfioDmaAllocator) {
    throw new IxyError(
      `${pci.address} is not bound to vfio-pci, so it needs physical addresses, but the DMA ` +
        `memory given is mapped for the IOMMU (VfioDmaAllocator: IO virtual addresses). ` +
        `Use dmaAllocatorFor("${pci.address}"), or bind every NIC to vfio-pci (deno task bind).`,
    );
  }
  const dma = options.dma ?? HugepageAllocator.open();

  // From here on we change the device; undo everything if the driver fails.
  pci.unbindDriver();
  const fn = sysfsFunction(pci, dma);
  try {
    pci.enableBusMastering();
    return track(fn, driver.open(fn, options));
  } catch (e) {
    try {
      fn.disableBusMastering();
      pci.rebindDriver();
    } catch { /* report the original error */ }
    throw e;
  }
}

/** Enters `dev` in the table of open devices (see {@link openDevices}). */
function track(fn: PciFunction, dev: IxyDevice): IxyDevice {
  openDevices.set(fn.address, dev);
  return dev;
}

/** PCI capability ID of MSI-X (PCI 3.0, section 6.8.2); bit 15 of its control word enables it. */
const PCI_CAP_ID_MSIX = 0x11;

/** The device as root sees it: sysfs files (src/pci.ts), hugepages with physical addresses. */
function sysfsFunction(pci: PciDevice, dma: DmaAllocator): PciFunction {
  const msix = pci.findCapability(PCI_CAP_ID_MSIX);
  return {
    address: pci.address,
    vendorId: pci.vendorId,
    deviceId: pci.deviceId,
    ids: pci.ids,
    via: "sysfs",
    pci,
    readConfig: (offset, size) => pci.readConfig(offset, size),
    barKind: (n) => pci.barKind(n),
    mapMemoryBar: (n) => pci.mapMemoryBar(n),
    openIoBar: (n) => pci.openIoBar(n),
    msixEnabled: msix !== 0 && (pci.readConfig(msix + 2, 2) & 0x8000) !== 0,
    dmaAllocator: () => dma,
    disableBusMastering: () => {
      pci.disableBusMastering();
      openDevices.delete(pci.address);
    },
  };
}

/**
 * The device through VFIO: the device fd gives config space, BARs (mmap, or
 * pread/pwrite for an I/O BAR) and MSI-X `vectors`; the device stays bound
 * to vfio-pci whatever happens.
 */
function vfioFunction(
  pci: PciDevice,
  vfio: VfioPciDevice,
  vectors: readonly InterruptVector[] | undefined,
  dma: DmaAllocator | undefined,
): PciFunction {
  const config = vfio.config;
  return {
    address: pci.address,
    vendorId: pci.vendorId,
    deviceId: pci.deviceId,
    ids: pci.ids,
    via: "vfio",
    readConfig: (offset, size) =>
      size === 1
        ? config.read8(offset)
        : size === 2
        ? config.read16(offset)
        : config.read32(offset),
    barKind: (n) => pci.barKind(n),
    mapMemoryBar: (n) => vfio.mapBar(n),
    openIoBar: (n) => vfio.ioRegion(n),
    msixEnabled: vectors !== undefined,
    interruptVectors: vectors,
    dmaAllocator: (bypass) => vfioDma(pci, bypass, dma),
    disableBusMastering: () => {
      vfio.disableBusMastering();
      openDevices.delete(pci.address);
    },
  };
}

const NO_IOMMU_HINT = `Run as root, or give the NIC VIRTIO_F_ACCESS_PLATFORM: QEMU ` +
  `-device virtio-net-pci,disable-legacy=on,iommu_platform=on (lab VM: deno task vm --iommu ` +
  `--modern-nics).`;

/**
 * DMA memory for a device bound to vfio-pci: IOMMU-mapped hugepages at IOVA =
 * virtual address ({@link VfioDmaAllocator}, no root) if its DMA goes
 * through the IOMMU; otherwise (`bypass` says why) hugepages with physical
 * addresses, which only root may see. `given` (the caller's choice) is
 * checked against that.
 */
function vfioDma(pci: PciDevice, bypass: string | undefined, given?: DmaAllocator): DmaAllocator {
  if (given !== undefined) {
    if (bypass !== undefined && given instanceof VfioDmaAllocator) {
      throw new IxyError(
        `${pci.address} (${pci.ids}) is bound to vfio-pci, but ${bypass}: IOVAs from ` +
          `VfioDmaAllocator would be wrong. Use dmaAllocatorFor(address) or HugepageAllocator. ` +
          NO_IOMMU_HINT,
      );
    }
    if (bypass === undefined && !(given instanceof VfioDmaAllocator)) {
      throw new IxyError(
        `${pci.address} (${pci.ids}) is bound to vfio-pci, so its DMA goes through the IOMMU ` +
          `and needs memory mapped there (VfioDmaAllocator), but the DMA memory given has ` +
          `physical addresses. Use dmaAllocatorFor("${pci.address}"), or give every NIC the ` +
          `same binding (all vfio-pci, or none).`,
      );
    }
    return given;
  }
  if (bypass === undefined) return VfioDmaAllocator.open();
  try {
    return HugepageAllocator.open();
  } catch (e) {
    throw new IxyError(
      `${pci.address} (${pci.ids}) is bound to vfio-pci, but ${bypass}; its DMA memory needs ` +
        `physical addresses, which only root may see. ${NO_IOMMU_HINT} (${(e as Error).message})`,
    );
  }
}

/**
 * The DMA memory to use with the NIC at `pciAddress` (for the driver and the
 * caller's own mempools): with a device bound to vfio-pci whose DMA the IOMMU
 * translates, hugepages mapped through VFIO at IOVA = virtual address
 * ({@link VfioDmaAllocator}, no root); otherwise hugepages with physical
 * addresses ({@link HugepageAllocator}, root). Pass the same allocator to
 * {@link ixyInit} as `dma`; two NICs share one (one VFIO container).
 *
 * Identifies the device first (like {@link ixyInit}): a PCI function that is
 * not a network controller, or a NIC no driver supports, is refused for what
 * it is before any memory is touched.
 */
export function dmaAllocatorFor(
  pciAddress: string,
  options: {
    /** The virtio transport {@link ixyInit} will be told to use (same default). */
    transport?: "legacy" | "modern";
  } = {},
): DmaAllocator {
  const { pci, driver } = identify(pciAddress);
  if (pci.driver !== "vfio-pci") return HugepageAllocator.open();
  // The container's IOMMU is chosen once a group is attached: open the device first.
  const fn = vfioFunction(pci, VfioPciDevice.open(pci.address), undefined, undefined);
  return vfioDma(pci, driver.iommuBypass?.(fn, options), undefined);
}

/**
 * One DMA allocator for NICs that hand buffers to each other — `fwd` sends a
 * frame from the very buffer it was received into, so both NICs must reach
 * that buffer at the same address: all bound to vfio-pci (IO virtual
 * addresses in the process's one VFIO container) or none (physical
 * addresses). Refuses a mix, and the same NIC twice, before any device is
 * touched.
 */
export function dmaAllocatorForAll(pciAddresses: readonly string[]): DmaAllocator {
  const seen = new Set<string>();
  for (const address of pciAddresses.map(parsePciAddress)) {
    if (seen.has(address)) {
      throw new IxyError(
        `${address} is given twice: each NIC can be opened once. Give two different NICs.`,
      );
    }
    seen.add(address);
  }
  const allocators = pciAddresses.map((a) => dmaAllocatorFor(a));
  const viaIommu = allocators.map((d) => d instanceof VfioDmaAllocator);
  if (viaIommu.includes(true) && viaIommu.includes(false)) {
    const list = pciAddresses.map((a, i) =>
      `${a} ${viaIommu[i] ? "(vfio-pci)" : "(not vfio-pci)"}`
    );
    throw new IxyError(
      `${list.join(" and ")} cannot share packet buffers: one reaches memory through the IOMMU, ` +
        `the other by physical address. Bind both to vfio-pci (deno task bind) or neither.`,
    );
  }
  return allocators[0];
}

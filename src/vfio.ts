/**
 * VFIO: a PCI device for a program that is not root, with its DMA fenced in
 * by the IOMMU — ixy's `libixy-vfio.c`, in TypeScript.
 *
 * Without VFIO (src/pci.ts, src/memory.ts) a driver needs root three times:
 * to map BARs from sysfs, to learn physical addresses from pagemap, and
 * because the device it programs can then DMA into *any* memory of the
 * machine. With VFIO the kernel hands one file descriptor per device to
 * whoever may open `/dev/vfio/<group>`, and the IOMMU lets that device reach
 * only the memory the program mapped for it, at addresses the program chose
 * (IO virtual addresses, IOVAs). Three kinds of file descriptors:
 *
 * | fd        | from                               | what it does                                  |
 * |-----------|------------------------------------|-----------------------------------------------|
 * | container | `open("/dev/vfio/vfio")`           | one IOMMU address space: VFIO_IOMMU_MAP_DMA   |
 * | group     | `open("/dev/vfio/<n>")`            | the devices the IOMMU cannot tell apart       |
 * | device    | VFIO_GROUP_GET_DEVICE_FD on group  | regions (BARs, config space) and interrupts   |
 *
 * Everything is an `ioctl` whose numbers and structures are those of the
 * kernel's uAPI header include/uapi/linux/vfio.h (cited per definition
 * below) and its documentation, Documentation/driver-api/vfio.rst.
 *
 * @module
 */

import { cString, errno, LIBC, libc, pointerValue, strerror } from "./ffi.ts";
import { IxyError, sysError } from "./error.ts";
import type { AllocateOptions, DmaAllocator, DmaMemory } from "./memory.ts";
import { HUGE_PAGE_SIZE } from "./memory.ts";
import { MmioRegion } from "./mmio.ts";
import { PCI_COMMAND, PCI_CONFIG } from "./pci.ts";

/**
 * The VFIO ioctl numbers. vfio.h defines each as `_IO(VFIO_TYPE, VFIO_BASE + n)`
 * with `VFIO_TYPE = ';'` (0x3b) and `VFIO_BASE = 100`. `_IO` (direction
 * "none", size 0, include/uapi/asm-generic/ioctl.h) is `(type << 8) | nr`:
 * VFIO passes its structures' sizes in their own `argsz` field instead of in
 * the ioctl number. So VFIO_GET_API_VERSION = 0x3b64, and so on.
 */
export const VFIO_IOCTL = {
  /** `_IO(';', 100)`: returns VFIO_API_VERSION (0). Container. */
  GET_API_VERSION: vfioIo(0),
  /** `_IO(';', 101)`: argument an extension (IOMMU type); returns > 0 if supported. Container. */
  CHECK_EXTENSION: vfioIo(1),
  /** `_IO(';', 102)`: argument the IOMMU type; needs a group attached first. Container. */
  SET_IOMMU: vfioIo(2),
  /** `_IO(';', 103)`: fills `struct vfio_group_status`. Group. */
  GROUP_GET_STATUS: vfioIo(3),
  /** `_IO(';', 104)`: argument a pointer to the container fd. Group. */
  GROUP_SET_CONTAINER: vfioIo(4),
  /** `_IO(';', 106)`: argument the device name ("0000:00:10.0"); returns a device fd. Group. */
  GROUP_GET_DEVICE_FD: vfioIo(6),
  /** `_IO(';', 107)`: fills `struct vfio_device_info`. Device. */
  DEVICE_GET_INFO: vfioIo(7),
  /** `_IO(';', 108)`: fills `struct vfio_region_info` for `index`. Device. */
  DEVICE_GET_REGION_INFO: vfioIo(8),
  /** `_IO(';', 109)`: fills `struct vfio_irq_info` for `index`. Device. */
  DEVICE_GET_IRQ_INFO: vfioIo(9),
  /** `_IO(';', 110)`: `struct vfio_irq_set`: wire interrupts to eventfds. Device. */
  DEVICE_SET_IRQS: vfioIo(10),
  /** `_IO(';', 111)`: function-level reset, if the device supports one. Device. */
  DEVICE_RESET: vfioIo(11),
  /** `_IO(';', 113)`: `struct vfio_iommu_type1_dma_map`. Container. */
  IOMMU_MAP_DMA: vfioIo(13),
  /** `_IO(';', 114)`: `struct vfio_iommu_type1_dma_unmap`. Container. */
  IOMMU_UNMAP_DMA: vfioIo(14),
} as const;

/** Type of {@link VFIO_IOCTL}. */
export type VFIO_IOCTL = typeof VFIO_IOCTL;

/** `_IO(VFIO_TYPE, VFIO_BASE + n)` of vfio.h. */
function vfioIo(n: number): bigint {
  const VFIO_TYPE = 0x3b; // ';'
  const VFIO_BASE = 100;
  return BigInt((VFIO_TYPE << 8) | (VFIO_BASE + n));
}

/** Constants of vfio.h that we use. */
export const VFIO = {
  /** VFIO_API_VERSION: what VFIO_GET_API_VERSION must return. */
  API_VERSION: 0,
  /** VFIO_TYPE1_IOMMU: the x86 (and most) IOMMU model: map/unmap by IOVA range. */
  TYPE1_IOMMU: 1,
  /** VFIO_GROUP_FLAGS_VIABLE: every device of the group is bound to vfio-pci (or none). */
  GROUP_FLAGS_VIABLE: 1 << 0,
  /** VFIO_REGION_INFO_FLAG_{READ,WRITE,MMAP}. */
  REGION_INFO_FLAG_READ: 1 << 0,
  REGION_INFO_FLAG_WRITE: 1 << 1,
  REGION_INFO_FLAG_MMAP: 1 << 2,
  /** VFIO_PCI_BAR0_REGION_INDEX .. BAR5 are 0..5; the config space is region 7. */
  PCI_CONFIG_REGION_INDEX: 7,
  /** Interrupt indexes of a PCI device: VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX. */
  PCI_INTX_IRQ_INDEX: 0,
  PCI_MSI_IRQ_INDEX: 1,
  PCI_MSIX_IRQ_INDEX: 2,
  /** VFIO_IRQ_INFO_EVENTFD: the interrupt can signal an eventfd. */
  IRQ_INFO_EVENTFD: 1 << 0,
  /** VFIO_IRQ_SET_DATA_{NONE,EVENTFD} and VFIO_IRQ_SET_ACTION_TRIGGER. */
  IRQ_SET_DATA_NONE: 1 << 0,
  IRQ_SET_DATA_EVENTFD: 1 << 2,
  IRQ_SET_ACTION_TRIGGER: 1 << 5,
  /** VFIO_DMA_MAP_FLAG_{READ,WRITE}: the device may read / write the mapping. */
  DMA_MAP_FLAG_READ: 1 << 0,
  DMA_MAP_FLAG_WRITE: 1 << 1,
} as const;

/** Type of {@link VFIO}. */
export type VFIO = typeof VFIO;

const CONTAINER_PATH = "/dev/vfio/vfio";

/** What to do when the VFIO modules or the IOMMU are missing. */
const IOMMU_HINT = "Enable the IOMMU (VT-d/AMD-Vi in the firmware, intel_iommu=on on the " +
  "kernel command line; the lab VM: deno task vm --iommu) and load VFIO: modprobe vfio-pci";

/**
 * The error for a failed VFIO_SET_IOMMU. EPERM there does not mean the IOMMU
 * is off (the group would have no /dev/vfio node then): vfio_iommu_type1
 * refuses a host without interrupt remapping, since a device could then
 * forge MSI writes (Linux drivers/vfio/vfio_iommu_type1.c,
 * allow_unsafe_interrupts).
 */
export function setIommuError(code: number): IxyError {
  const what = `Cannot select the Type1 IOMMU (VFIO_SET_IOMMU): ${strerror(code)}.`;
  if (code === LIBC.EPERM) {
    return new IxyError(
      `${what} The IOMMU is on, but this host has no interrupt remapping, which ` +
        `vfio_iommu_type1 requires. Turn it on (intel_iommu=on with interrupt remapping, ` +
        `intremap=on; the lab VM: deno task vm --iommu), or accept the risk that a device can ` +
        `forge interrupts: modprobe vfio_iommu_type1 allow_unsafe_interrupts=1. See: dmesg | ` +
        `grep -i -e remapping -e vfio`,
      { errno: code },
    );
  }
  return new IxyError(`${what} ${IOMMU_HINT}`, { errno: code });
}

/** `ioctl` with a struct argument; throws an {@link IxyError} on failure. */
function ioctlOrThrow(fd: number, request: bigint, arg: Uint8Array, what: string): number {
  const r = libc().ioctl(fd, request, arg);
  if (r < 0) throw sysError(what);
  return r;
}

/**
 * The IOMMU group of a PCI device: the number behind the link
 * `/sys/bus/pci/devices/<address>/iommu_group`, or undefined when there is
 * none (no IOMMU, or it is off).
 */
export function iommuGroupOf(pciAddress: string): number | undefined {
  try {
    const target = Deno.readLinkSync(`/sys/bus/pci/devices/${pciAddress}/iommu_group`);
    return Number(target.split("/").pop());
  } catch {
    return undefined;
  }
}

/** The PCI addresses in IOMMU group `group` (/sys/kernel/iommu_groups/<n>/devices). */
export function iommuGroupDevices(group: number): string[] {
  try {
    return [...Deno.readDirSync(`/sys/kernel/iommu_groups/${group}/devices`)].map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * A VFIO container: one IOMMU address space that all our groups share (one
 * per process, as in ixy, so two NICs of a forwarder see the same buffers at
 * the same IOVAs). Get it with {@link VfioContainer.get}.
 */
export class VfioContainer {
  static #instance: VfioContainer | undefined;
  /** The container's file descriptor. */
  readonly fd: number;
  #iommuSet = false;
  #groups = new Map<number, number>();
  #mapArgs = new Uint8Array(32);

  private constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Opens `/dev/vfio/vfio` (once per process) and checks the API version
   * and that the Type1 IOMMU model is supported (vfio.rst, "Groups, Devices,
   * and IOMMUs": the same checks in the same order).
   */
  static get(): VfioContainer {
    if (VfioContainer.#instance) return VfioContainer.#instance;
    const fd = libc().open(cString(CONTAINER_PATH), LIBC.O_RDWR | LIBC.O_CLOEXEC, 0);
    if (fd < 0) {
      const code = errno();
      if (code === LIBC.ENOENT) {
        throw new IxyError(
          `Cannot use VFIO: ${CONTAINER_PATH} does not exist (the vfio module is not loaded). ` +
            IOMMU_HINT,
          { errno: code },
        );
      }
      throw new IxyError(`Cannot open ${CONTAINER_PATH}: ${strerror(code)}.`, { errno: code });
    }
    const version = libc().ioctl_int(fd, VFIO_IOCTL.GET_API_VERSION, 0n);
    if (version !== VFIO.API_VERSION) {
      libc().close(fd);
      throw new IxyError(`Unknown VFIO API version ${version} (expected ${VFIO.API_VERSION}).`);
    }
    if (libc().ioctl_int(fd, VFIO_IOCTL.CHECK_EXTENSION, BigInt(VFIO.TYPE1_IOMMU)) <= 0) {
      libc().close(fd);
      throw new IxyError(
        `VFIO here does not support the Type1 IOMMU (vfio_iommu_type1): no IOMMU? ${IOMMU_HINT}`,
      );
    }
    VfioContainer.#instance = new VfioContainer(fd);
    return VfioContainer.#instance;
  }

  /**
   * Opens IOMMU group `group` (once), checks that it is viable and attaches
   * it to this container; the first group also selects the Type1 IOMMU
   * (VFIO_SET_IOMMU needs a group in the container). Returns the group fd.
   */
  attachGroup(group: number, forDevice: string): number {
    const known = this.#groups.get(group);
    if (known !== undefined) return known;
    const path = `/dev/vfio/${group}`;
    const fd = libc().open(cString(path), LIBC.O_RDWR | LIBC.O_CLOEXEC, 0);
    if (fd < 0) throw groupOpenError(path, forDevice);
    // struct vfio_group_status { __u32 argsz; __u32 flags; }
    const status = new Uint32Array([8, 0]);
    ioctlOrThrow(fd, VFIO_IOCTL.GROUP_GET_STATUS, u8(status), `Cannot query ${path}`);
    if (!(status[1] & VFIO.GROUP_FLAGS_VIABLE)) {
      libc().close(fd);
      const members = iommuGroupDevices(group).map((a) => `${a} (${driverOf(a) ?? "no driver"})`);
      throw new IxyError(
        `IOMMU group ${group} of ${forDevice} is not viable: the IOMMU cannot tell its devices ` +
          `apart, and some are still bound to kernel drivers: ${members.join(", ")}. Bind every ` +
          `device of the group to vfio-pci (deno task bind <address>) or unbind it.`,
      );
    }
    const containerFd = new Int32Array([this.fd]);
    try {
      ioctlOrThrow(
        fd,
        VFIO_IOCTL.GROUP_SET_CONTAINER,
        u8(containerFd),
        `Cannot add IOMMU group ${group} to the VFIO container`,
      );
      if (!this.#iommuSet) {
        if (libc().ioctl_int(this.fd, VFIO_IOCTL.SET_IOMMU, BigInt(VFIO.TYPE1_IOMMU)) < 0) {
          throw setIommuError(errno());
        }
        this.#iommuSet = true;
      }
    } catch (e) {
      libc().close(fd); // the group is not ours after all: no fd left open
      throw e;
    }
    this.#groups.set(group, fd);
    return fd;
  }

  /**
   * Lets the devices of this container DMA to `[virt, virt + size)` at IOVA
   * `iova`, for reading and writing (VFIO_IOMMU_MAP_DMA with
   * `struct vfio_iommu_type1_dma_map { u32 argsz, flags; u64 vaddr, iova, size; }`).
   * The kernel pins the pages — counted against RLIMIT_MEMLOCK (`ulimit -l`)
   * for users without CAP_IPC_LOCK.
   */
  mapDma(virt: bigint, iova: bigint, size: number): void {
    if (!this.#iommuSet) {
      throw new IxyError(
        "Cannot map DMA memory before a device's group is attached: open the device first.",
      );
    }
    const view = new DataView(this.#mapArgs.buffer);
    view.setUint32(0, 32, true); // argsz
    view.setUint32(4, VFIO.DMA_MAP_FLAG_READ | VFIO.DMA_MAP_FLAG_WRITE, true);
    view.setBigUint64(8, virt, true);
    view.setBigUint64(16, iova, true);
    view.setBigUint64(24, BigInt(size), true);
    if (libc().ioctl(this.fd, VFIO_IOCTL.IOMMU_MAP_DMA, this.#mapArgs) < 0) {
      const code = errno();
      const hint = code === LIBC.ENOMEM
        ? ` The kernel pins mapped pages and counts them against the locked-memory limit ` +
          `(ulimit -l is ${lockedLimit()}); raise it, e.g. in /etc/security/limits.conf: ` +
          `<user> - memlock unlimited.`
        : code === LIBC.EINVAL || code === LIBC.EFAULT
        ? " Is the IOVA outside the IOMMU's address width? (QEMU: intel-iommu,aw-bits=48)"
        : "";
      throw new IxyError(
        `Cannot map ${size} bytes for DMA at IOVA 0x${iova.toString(16)} (VFIO_IOMMU_MAP_DMA): ` +
          `${strerror(code)}.${hint}`,
        { errno: code },
      );
    }
  }

  /** Removes the IOMMU mapping at `[iova, iova + size)` (VFIO_IOMMU_UNMAP_DMA). */
  unmapDma(iova: bigint, size: number): void {
    // struct vfio_iommu_type1_dma_unmap { u32 argsz, flags; u64 iova, size; }
    const args = new Uint8Array(24);
    const view = new DataView(args.buffer);
    view.setUint32(0, 24, true);
    view.setBigUint64(8, iova, true);
    view.setBigUint64(16, BigInt(size), true);
    ioctlOrThrow(this.fd, VFIO_IOCTL.IOMMU_UNMAP_DMA, args, "Cannot unmap DMA memory");
  }
}

/** The error for a group file we cannot open, with the likely cause. */
function groupOpenError(path: string, device: string): IxyError {
  const code = errno();
  let hint = "";
  if (code === LIBC.EACCES || code === LIBC.EPERM) {
    let owner = "";
    try {
      owner = ` (owned by uid ${Deno.statSync(path).uid}; we are uid ${libc().geteuid()})`;
    } catch { /* keep it short */ }
    hint = ` Permission denied${owner}: hand the group to your user, as root: ` +
      `deno task bind ${device} --user $(id -un)`;
  } else if (code === LIBC.ENOENT) {
    hint = ` ${path} does not exist: is ${device} bound to vfio-pci? As root: ` +
      `deno task bind ${device} --user $(id -un)`;
  } else if (code === LIBC.EBUSY) {
    hint = " Another process has the group open (only one may): stop it first.";
  } else {
    hint = ` ${strerror(code)}.`;
  }
  return new IxyError(`Cannot open VFIO group ${path} of ${device}.${hint}`, { errno: code });
}

/** Driver bound to a PCI device, by sysfs link. */
function driverOf(address: string): string | undefined {
  try {
    return Deno.readLinkSync(`/sys/bus/pci/devices/${address}/driver`).split("/").pop();
  } catch {
    return undefined;
  }
}

/** RLIMIT_MEMLOCK for messages, from /proc/self/limits. */
function lockedLimit(): string {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max locked memory"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined
      ? "unknown"
      : soft === "unlimited"
      ? soft
      : `${Number(soft) >> 10} KiB`;
  } catch {
    return "unknown";
  }
}

/** The bytes of a typed array, as FFI `buffer` arguments want them. */
function u8(a: Uint32Array | Int32Array | BigUint64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** One region of a VFIO device (`struct vfio_region_info`). */
export interface VfioRegionInfo {
  /** The region index (BAR n is n, config space is 7). */
  readonly index: number;
  /** VFIO_REGION_INFO_FLAG_* bits. */
  readonly flags: number;
  /** Size in bytes; 0 for an unimplemented region (an unused BAR). */
  readonly size: number;
  /** Where the region starts in the device fd, for pread/pwrite/mmap. */
  readonly offset: bigint;
}

/** One interrupt index of a VFIO device (`struct vfio_irq_info`). */
export interface VfioIrqInfo {
  /** VFIO_IRQ_INFO_* bits. */
  readonly flags: number;
  /** How many vectors (MSI-X: the table size); 0 if unsupported. */
  readonly count: number;
}

/** Devices opened so far: one device fd per device and process. */
const openDevices = new Map<string, VfioPciDevice>();

/** A PCI device opened through VFIO. Get one with {@link VfioPciDevice.open}. */
export class VfioPciDevice {
  /** The device's PCI address. */
  readonly address: string;
  /** Its IOMMU group. */
  readonly group: number;
  /** The container (IOMMU address space) it is in. */
  readonly container: VfioContainer;
  #fd: number;
  #config: VfioIoRegion | undefined;

  private constructor(address: string, group: number, container: VfioContainer, fd: number) {
    this.address = address;
    this.group = group;
    this.container = container;
    this.#fd = fd;
  }

  /**
   * Opens `address` (normalised, e.g. `0000:00:10.0`) through VFIO: finds its
   * IOMMU group, attaches the group to the process's container, and gets the
   * device fd (once per process; later calls return the same object). The
   * device must be bound to vfio-pci (see tools/bind.ts).
   */
  static open(address: string): VfioPciDevice {
    const known = openDevices.get(address);
    if (known) return known;
    const driver = driverOf(address);
    if (driver !== "vfio-pci") {
      throw new IxyError(
        `${address} is ${driver ? `bound to ${driver}` : "not bound to any driver"}, not to ` +
          `vfio-pci, so VFIO cannot reach it. Hand it over, as root: deno task bind ${address} ` +
          `--user $(id -un)`,
      );
    }
    const group = iommuGroupOf(address);
    if (group === undefined) {
      throw new IxyError(`${address} has no IOMMU group: no IOMMU is active. ${IOMMU_HINT}`);
    }
    const container = VfioContainer.get();
    const groupFd = container.attachGroup(group, address);
    const fd = libc().ioctl(groupFd, VFIO_IOCTL.GROUP_GET_DEVICE_FD, cString(address));
    if (fd < 0) throw sysError(`Cannot get the VFIO device fd of ${address}`);
    const device = new VfioPciDevice(address, group, container, fd);
    openDevices.set(address, device);
    return device;
  }

  /** Whether `address` is bound to vfio-pci (what {@link ixyInit} checks). */
  static isBound(address: string): boolean {
    return driverOf(address) === "vfio-pci";
  }

  /** The device fd (for reads and writes at region offsets). */
  get fd(): number {
    return this.#fd;
  }

  /** VFIO_DEVICE_GET_REGION_INFO for region `index`. */
  regionInfo(index: number): VfioRegionInfo {
    // struct vfio_region_info { u32 argsz, flags, index, cap_offset; u64 size, offset; }
    const args = new Uint8Array(32);
    const view = new DataView(args.buffer);
    view.setUint32(0, 32, true);
    view.setUint32(8, index, true);
    ioctlOrThrow(
      this.#fd,
      VFIO_IOCTL.DEVICE_GET_REGION_INFO,
      args,
      `Cannot get VFIO region ${index} of ${this.address}`,
    );
    return {
      index,
      flags: view.getUint32(4, true),
      size: Number(view.getBigUint64(16, true)),
      offset: view.getBigUint64(24, true),
    };
  }

  /** VFIO_DEVICE_GET_IRQ_INFO for interrupt index `index` (e.g. {@link VFIO}.PCI_MSIX_IRQ_INDEX). */
  irqInfo(index: number): VfioIrqInfo {
    // struct vfio_irq_info { u32 argsz, flags, index, count; }
    const args = new Uint32Array([16, 0, index, 0]);
    ioctlOrThrow(
      this.#fd,
      VFIO_IOCTL.DEVICE_GET_IRQ_INFO,
      u8(args),
      `Cannot get VFIO interrupt info ${index} of ${this.address}`,
    );
    return { flags: args[1], count: args[3] };
  }

  /**
   * Maps memory BAR `n` (mmap of the device fd at the region's offset), the
   * VFIO counterpart of {@link PciDevice.mapMemoryBar}.
   */
  mapBar(n: number): MmioRegion {
    const info = this.regionInfo(n);
    if (info.size === 0 || !(info.flags & VFIO.REGION_INFO_FLAG_MMAP)) {
      throw new IxyError(
        `Cannot map BAR${n} of ${this.address} through VFIO: ` +
          (info.size === 0 ? "the BAR is not implemented." : "the region cannot be mapped."),
      );
    }
    const p = libc().mmap(
      null,
      BigInt(info.size),
      LIBC.PROT_READ | LIBC.PROT_WRITE,
      LIBC.MAP_SHARED,
      this.#fd,
      info.offset,
    );
    if (p === null || pointerValue(p) === 0xffffffffffffffffn) {
      throw sysError(`Cannot map BAR${n} of ${this.address} through VFIO`);
    }
    return new MmioRegion(Deno.UnsafePointerView.getArrayBuffer(p, info.size));
  }

  /**
   * Region `n` read and written with pread/pwrite: for an I/O-port BAR (the
   * legacy virtio header; vfio-pci turns each access into one in/out
   * instruction) or any BAR. Same shape as {@link IoPortRegion}.
   */
  ioRegion(n: number): VfioIoRegion {
    const info = this.regionInfo(n);
    const rw = VFIO.REGION_INFO_FLAG_READ | VFIO.REGION_INFO_FLAG_WRITE;
    if (info.size === 0 || (info.flags & rw) !== rw) {
      throw new IxyError(`Cannot use region ${n} of ${this.address}: not readable and writable.`);
    }
    return new VfioIoRegion(this.#fd, info, `${this.address} region ${n}`);
  }

  /** The PCI configuration space (region 7); vfio-pci filters what we may change. */
  get config(): VfioIoRegion {
    this.#config ??= new VfioIoRegion(
      this.#fd,
      this.regionInfo(VFIO.PCI_CONFIG_REGION_INDEX),
      `${this.address} config space`,
    );
    return this.#config;
  }

  /** Sets Bus Master Enable (PCI 3.0, section 6.2.2) through the config region. */
  enableBusMastering(): void {
    const command = this.config.read16(PCI_CONFIG.COMMAND);
    this.config.write16(PCI_CONFIG.COMMAND, command | PCI_COMMAND.BUS_MASTER);
  }

  /**
   * Clears Bus Master Enable (PCI 3.0, section 6.2.2): no more DMA. (Closing
   * the device fd at exit also resets the device: vfio-pci does that.)
   */
  disableBusMastering(): void {
    const command = this.config.read16(PCI_CONFIG.COMMAND);
    this.config.write16(PCI_CONFIG.COMMAND, command & ~PCI_COMMAND.BUS_MASTER);
  }

  /**
   * Wires the first `count` MSI-X vectors to new eventfds (VFIO_DEVICE_SET_IRQS
   * with DATA_EVENTFD | ACTION_TRIGGER on VFIO_PCI_MSIX_IRQ_INDEX; vfio-pci
   * enables MSI-X in the device and programs the table for us). Vector i then
   * bumps eventfd i; see {@link VfioInterrupt}.
   */
  enableMsix(count: number): VfioInterrupt[] {
    const info = this.irqInfo(VFIO.PCI_MSIX_IRQ_INDEX);
    if (!(info.flags & VFIO.IRQ_INFO_EVENTFD) || info.count < count) {
      throw new IxyError(
        `${this.address} offers ${info.count} MSI-X vectors; ${count} needed.`,
      );
    }
    const interrupts: VfioInterrupt[] = [];
    for (let i = 0; i < count; i++) interrupts.push(VfioInterrupt.create(i));
    // struct vfio_irq_set { u32 argsz, flags, index, start, count; u8 data[]; }
    const args = new Uint8Array(20 + 4 * count);
    const view = new DataView(args.buffer);
    view.setUint32(0, args.byteLength, true);
    view.setUint32(4, VFIO.IRQ_SET_DATA_EVENTFD | VFIO.IRQ_SET_ACTION_TRIGGER, true);
    view.setUint32(8, VFIO.PCI_MSIX_IRQ_INDEX, true);
    view.setUint32(12, 0, true);
    view.setUint32(16, count, true);
    interrupts.forEach((irq, i) => view.setInt32(20 + 4 * i, irq.fd, true));
    ioctlOrThrow(
      this.#fd,
      VFIO_IOCTL.DEVICE_SET_IRQS,
      args,
      `Cannot enable MSI-X on ${this.address}`,
    );
    return interrupts;
  }

  /** Turns MSI-X off again (DATA_NONE | ACTION_TRIGGER with count 0). */
  disableMsix(): void {
    const args = new Uint32Array([
      20,
      VFIO.IRQ_SET_DATA_NONE | VFIO.IRQ_SET_ACTION_TRIGGER,
      2,
      0,
      0,
    ]);
    args[2] = VFIO.PCI_MSIX_IRQ_INDEX;
    ioctlOrThrow(this.#fd, VFIO_IOCTL.DEVICE_SET_IRQS, u8(args), "Cannot disable MSI-X");
  }
}

/**
 * A device region reached with pread/pwrite on the VFIO device fd at the
 * region's offset: an I/O BAR, or the config space. Satisfies the virtio
 * drivers' `ByteRegisters` (src/device.ts: read8..write32), like {@link IoPortRegion}.
 */
export class VfioIoRegion {
  #fd: number;
  #name: string;
  #size: number;
  #offsets: bigint[];
  #u8 = new Uint8Array(1);
  #u16 = new Uint16Array(1);
  #u32 = new Uint32Array(1);
  #sizes: bigint[] = [0n, 1n, 2n, 0n, 4n];

  /** Wraps region `info` of device fd `fd`; `name` is for error messages. */
  constructor(fd: number, info: VfioRegionInfo, name: string) {
    this.#fd = fd;
    this.#name = name;
    this.#size = info.size;
    // FFI i64 arguments are fastest as precomputed bigints (see ffi.ts).
    const n = Math.min(info.size, 4096);
    this.#offsets = Array.from({ length: n }, (_, i) => info.offset + BigInt(i));
  }

  /** Reads one byte at `offset`. */
  read8(offset: number): number {
    this.#access(false, this.#u8, offset);
    return this.#u8[0];
  }

  /** Reads a 16-bit little-endian value at `offset`. */
  read16(offset: number): number {
    this.#access(false, this.#u16, offset);
    return this.#u16[0];
  }

  /** Reads a 32-bit little-endian value at `offset`. */
  read32(offset: number): number {
    this.#access(false, this.#u32, offset);
    return this.#u32[0];
  }

  /** Writes one byte at `offset`. */
  write8(offset: number, value: number): void {
    this.#u8[0] = value;
    this.#access(true, this.#u8, offset);
  }

  /** Writes a 16-bit value at `offset`. */
  write16(offset: number, value: number): void {
    this.#u16[0] = value;
    this.#access(true, this.#u16, offset);
  }

  /** Writes a 32-bit value at `offset`. */
  write32(offset: number, value: number): void {
    this.#u32[0] = value;
    this.#access(true, this.#u32, offset);
  }

  /** Nothing to release: the device fd lives as long as the device. */
  close(): void {}

  #access(write: boolean, buf: Uint8Array | Uint16Array | Uint32Array, offset: number): void {
    const size = buf.byteLength;
    const at = this.#offsets[offset];
    if (at === undefined || offset + size > this.#size) {
      throw new IxyError(`Offset ${offset} is outside ${this.#name} (${this.#size} bytes).`);
    }
    const done = write
      ? libc().pwrite(this.#fd, buf, this.#sizes[size], at)
      : libc().pread(this.#fd, buf, this.#sizes[size], at);
    if (Number(done) !== size) {
      throw sysError(
        `Cannot ${write ? "write" : "read"} ${size} byte(s) at ${offset} of ${this.#name}`,
      );
    }
  }
}

/**
 * One interrupt vector as an eventfd: the kernel adds 1 to its counter on
 * each interrupt; {@link wait} sleeps in `poll` on a helper thread (an FFI
 * symbol marked `nonblocking`), so Deno's event loop keeps running.
 */
export class VfioInterrupt {
  /** The eventfd. */
  readonly fd: number;
  /** The MSI-X vector it belongs to. */
  readonly vector: number;
  /** Interrupts seen so far (sum of the counter values read). */
  count = 0;
  #pollfd = new Int32Array(2);
  #value = new BigUint64Array(1);

  private constructor(fd: number, vector: number) {
    this.fd = fd;
    this.vector = vector;
    this.#pollfd[0] = fd;
  }

  /** A new non-blocking eventfd for MSI-X vector `vector`. */
  static create(vector: number): VfioInterrupt {
    const fd = libc().eventfd(0, LIBC.EFD_NONBLOCK | LIBC.EFD_CLOEXEC);
    if (fd < 0) throw sysError("Cannot create an eventfd for an interrupt");
    return new VfioInterrupt(fd, vector);
  }

  /**
   * Takes pending interrupts without waiting: reads (and so resets) the
   * counter; returns how many arrived since the last call.
   */
  consume(): number {
    const r = Number(libc().read(this.fd, u8(this.#value), 8n));
    if (r !== 8) return 0; // EAGAIN: none pending
    const n = Number(this.#value[0]);
    this.count += n;
    return n;
  }

  /**
   * Waits up to `timeoutMs` for an interrupt without blocking the event loop;
   * returns the number that arrived (0 on timeout).
   */
  async wait(timeoutMs: number): Promise<number> {
    const pending = this.consume();
    if (pending > 0) return pending;
    // struct pollfd { int fd; short events; short revents; }
    this.#pollfd[1] = LIBC.POLLIN;
    // poll returns > 0 (readable), 0 (timeout) or < 0. On < 0 poll failed
    // on Deno's helper thread, and errno is per thread, so its reason cannot
    // be read here (errno() would give the main thread's,
    // unrelated). The one failure a valid eventfd can meet is EINTR, a
    // signal (Ctrl-C) that landed on that thread: treat it as an early
    // wake-up; the caller polls the ring and may sleep again. So in every
    // case: take what the counter holds.
    await libc().poll_async(u8(this.#pollfd), 1n, Math.max(0, Math.round(timeoutMs)));
    return this.consume();
  }

  /** Closes the eventfd. */
  close(): void {
    libc().close(this.fd);
  }
}

/** Options for {@link VfioDmaAllocator.open}. */
export interface VfioDmaOptions {
  /** The container to map into; default: the process's ({@link VfioContainer.get}). */
  container?: VfioContainer;
}

/**
 * DMA memory for devices behind the IOMMU: 2 MiB hugepages mapped into the
 * container with IOVA = our virtual address (as ixy does), so `physAddr()`
 * returns the virtual address and no root-only pagemap lookup is needed.
 *
 * Hugepages without root: anonymous `MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_HUGETLB` memory. It comes from the same pool as hugetlbfs files
 * (`nr_hugepages`, set once by root) but needs no file, so no hugetlbfs
 * mount writable by the user (the other way: `mount -t hugetlbfs -o
 * uid=<user>,mode=0700 nodev /mnt/huge-<user>` and files there). Private is
 * fine: the memory is never shared with another process, and the pages are
 * populated and pinned by VFIO_IOMMU_MAP_DMA, so they never move — no mlock.
 *
 * Contiguity is in IOVA space: a multi-page block is contiguous for the
 * device whatever the physical pages are, so `contiguous` always holds.
 *
 * Only for devices that translate their DMA through the IOMMU. A legacy
 * virtio device does not (virtio 1.1 section 6.1, VIRTIO_F_ACCESS_PLATFORM:
 * without it "the device will always use physical addresses"), so it needs
 * {@link HugepageAllocator} even when reached through VFIO.
 */
export class VfioDmaAllocator implements DmaAllocator {
  #container: VfioContainer;

  private constructor(container: VfioContainer) {
    this.#container = container;
  }

  /** An allocator mapping into `options.container` (default: the process's container). */
  static open(options: VfioDmaOptions = {}): VfioDmaAllocator {
    return new VfioDmaAllocator(options.container ?? VfioContainer.get());
  }

  /** Allocates whole hugepages, zeroed, mapped for the device at IOVA = virtual address. */
  allocate(size: number, _options: AllocateOptions = {}): VfioDmaMemory {
    const bytes = Math.ceil(size / HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    const p = libc().mmap(
      null,
      BigInt(bytes),
      LIBC.PROT_READ | LIBC.PROT_WRITE,
      LIBC.MAP_PRIVATE | LIBC.MAP_ANONYMOUS | LIBC.MAP_HUGETLB | LIBC.MAP_POPULATE,
      -1,
      0n,
    );
    if (p === null || pointerValue(p) === 0xffffffffffffffffn) {
      const err = sysError(`Cannot map ${bytes} bytes of anonymous hugepage memory`);
      throw new IxyError(
        `${err.message} Too few free hugepages? Needed ${bytes / HUGE_PAGE_SIZE} ` +
          `(HugePages_Free in /proc/meminfo). As root: echo 512 > /proc/sys/vm/nr_hugepages`,
        { errno: err.errno },
      );
    }
    const virt = pointerValue(p);
    try {
      this.#container.mapDma(virt, virt, bytes);
    } catch (e) {
      libc().munmap(p, BigInt(bytes));
      throw e;
    }
    return new VfioDmaMemory(Deno.UnsafePointerView.getArrayBuffer(p, bytes), p, this.#container);
  }
}

/** Hugepage memory mapped for a device at IOVA = virtual address (see {@link VfioDmaAllocator}). */
export class VfioDmaMemory implements DmaMemory {
  /** The mapped pages. */
  readonly buffer: ArrayBuffer;
  /** Size in bytes, a multiple of 2 MiB. */
  readonly size: number;
  /** The IOVA (= virtual address) of byte 0. */
  readonly iova: number;
  #pointer: Deno.PointerObject;
  #container: VfioContainer;

  /** Wraps a mapping already mapped into `container` at IOVA = its address. */
  constructor(buffer: ArrayBuffer, pointer: Deno.PointerObject, container: VfioContainer) {
    this.buffer = buffer;
    this.size = buffer.byteLength;
    this.#pointer = pointer;
    this.#container = container;
    this.iova = Number(pointerValue(pointer));
  }

  /** The IOVA of byte `offset`: what the device must use. */
  physAddr(offset: number): number {
    return this.iova + offset;
  }

  /** Unmaps the memory from the IOMMU and from us. UNSAFE: no view may be used afterwards. */
  free(): void {
    this.#container.unmapDma(BigInt(this.iova), this.size);
    libc().munmap(this.#pointer, BigInt(this.size));
  }
}

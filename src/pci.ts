/**
 * PCI through sysfs: finding a device, checking what it is, taking it from its
 * kernel driver, letting it do DMA, and reaching its registers.
 *
 * Everything here is a file under `/sys/bus/pci/devices/<address>/`:
 *
 * | file          | what it is                                                  |
 * |---------------|-------------------------------------------------------------|
 * | `config`      | the device's PCI configuration space (IDs, command register) |
 * | `driver`      | a link to the kernel driver bound to it (if any)            |
 * | `resource`    | one line per BAR: start, end, flags                          |
 * | `resource<N>` | BAR N itself: `mmap` it (memory BAR) or `pread`/`pwrite` (I/O BAR) |
 *
 * Config space layout: PCI Local Bus Specification 3.0, section 6.1
 * ("Configuration Space Organization") and 6.2 ("Configuration Space
 * Functions"); the kernel's sysfs files: Documentation/PCI/sysfs-pci.rst.
 *
 * @module
 */

import { cString, LIBC, libc } from "./ffi.ts";
import { IxyError, sysError } from "./error.ts";
import { MmioRegion } from "./mmio.ts";
import { IoPortRegion } from "./io_port.ts";

/** Offsets of the config-space registers we use (PCI 3.0, section 6.1). */
export const PCI_CONFIG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  /** Three bytes: programming interface (0x09), subclass (0x0a), base class (0x0b). */
  CLASS_PROG_IF: 0x09,
  CLASS_SUBCLASS: 0x0a,
  CLASS_BASE: 0x0b,
  /** Base Address Register 0 (PCI 3.0, 6.2.5); BAR1-5 follow at 4-byte steps. */
  BAR0: 0x10,
  CAPABILITIES_POINTER: 0x34,
} as const;

/** Type of {@link PCI_CONFIG}. */
export type PCI_CONFIG = typeof PCI_CONFIG;

/** Command register bits (PCI 3.0, section 6.2.2, "Device Control"). */
export const PCI_COMMAND = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  /** Bus Master Enable: without it the device may not start DMA. */
  BUS_MASTER: 1 << 2,
  INTX_DISABLE: 1 << 10,
} as const;

/** Type of {@link PCI_COMMAND}. */
export type PCI_COMMAND = typeof PCI_COMMAND;

/** Base class 0x02 is "Network controller" (PCI Code and ID Assignment Spec, section 1.3). */
export const PCI_CLASS_NETWORK = 0x02;

const CLASS_NAMES: Record<number, string> = {
  0x00: "unclassified device",
  0x01: "mass storage controller",
  0x02: "network controller",
  0x03: "display controller",
  0x04: "multimedia controller",
  0x05: "memory controller",
  0x06: "bridge",
  0x07: "communication controller",
  0x08: "system peripheral",
  0x09: "input device",
  0x0c: "serial bus controller",
};

/** What {@link parseConfigHeader} reads from the start of a configuration space. */
export interface ConfigHeader {
  /** Vendor ID (offset 0x00). */
  vendorId: number;
  /** Device ID (offset 0x02). */
  deviceId: number;
  /** Base class (offset 0x0b); 0x02 = network controller. */
  baseClass: number;
  /** True if the command register (0x04) has Bus Master Enable (bit 2) set. */
  busMaster: boolean;
  /** BAR0 (offset 0x10) without its flag bits: the address as the kernel assigned it. */
  bar0Address: number;
  /** True if BAR0 is an I/O BAR (bit 0 set), false for a memory BAR. */
  bar0Io: boolean;
}

/**
 * Decodes IDs, base class, Bus Master Enable and BAR0 from the first 64
 * bytes of a configuration space (the sysfs `config` file; PCI 3.0, 6.1,
 * 6.2.2, 6.2.5). Every field is little-endian. An I/O BAR keeps flags in bits
 * 1:0, a memory BAR in bits 3:0. (Lab 1's `parseConfig` is this function.)
 */
export function parseConfigHeader(config: Uint8Array): ConfigHeader {
  const view = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const bar0 = view.getUint32(PCI_CONFIG.BAR0, true);
  const io = (bar0 & 1) === 1;
  return {
    vendorId: view.getUint16(PCI_CONFIG.VENDOR_ID, true),
    deviceId: view.getUint16(PCI_CONFIG.DEVICE_ID, true),
    baseClass: view.getUint8(PCI_CONFIG.CLASS_BASE),
    busMaster: (view.getUint16(PCI_CONFIG.COMMAND, true) & PCI_COMMAND.BUS_MASTER) !== 0,
    bar0Address: (bar0 & (io ? ~0x3 : ~0xf)) >>> 0,
    bar0Io: io,
  };
}

/** Linux interface flag IFF_UP (include/uapi/linux/if.h), in /sys/class/net/<if>/flags. */
const IFF_UP = 0x1;

/** Flags in the third column of sysfs `resource` (include/linux/ioport.h). */
const IORESOURCE_IO = 0x100;
const IORESOURCE_MEM = 0x200;

/**
 * Domain: 4 to 8 hex digits. Linux names a function "%04x:%02x:%02x.%d"
 * with a 32-bit domain (drivers/pci/probe.c, pci_setup_device), so domains
 * above ffff have more digits: Intel VMD puts its devices in domains from
 * 10000 up (drivers/pci/controller/vmd.c), e.g. `10000:01:00.0`.
 */
const ADDRESS_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

/**
 * Checks and normalises a PCI address. Accepts `DDDD:BB:DD.F` (a domain of
 * 4 to 8 hex digits) and the short `BB:DD.F` (domain 0000), in any case;
 * returns the lower-case form sysfs uses (domain at least 4 digits).
 */
export function parsePciAddress(text: string): string {
  let t = text.trim().toLowerCase();
  if (/^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(t)) t = "0000:" + t;
  const m = ADDRESS_RE.exec(t);
  if (m === null) {
    throw new IxyError(
      `Malformed PCI address "${text}": expected DDDD:BB:DD.F (domain:bus:device.function ` +
        `in hex, domain 4-8 digits, device 00-1f, function 0-7), e.g. 0000:00:10.0. ` +
        `List devices with: lspci -D`,
    );
  }
  // As sysfs writes it: leading zeros beyond four digits dropped.
  const domain = parseInt(m[1], 16).toString(16).padStart(4, "0");
  return `${domain}:${m[2]}:${m[3]}.${m[4]}`;
}

/** A PCI function found in sysfs. Obtain one with {@link PciDevice.open}. */
export class PciDevice {
  /** The normalised address, e.g. `0000:00:10.0`. */
  readonly address: string;
  /** Its sysfs directory. */
  readonly path: string;
  /** PCI vendor ID (config offset 0x00). */
  readonly vendorId: number;
  /** PCI device ID (config offset 0x02). */
  readonly deviceId: number;
  /** Base class (config offset 0x0b); 0x02 for network controllers. */
  readonly baseClass: number;
  /** The kernel driver the device had when we opened it, for {@link rebindDriver}. */
  readonly originalDriver: string | undefined;

  private constructor(address: string) {
    this.address = address;
    this.path = `/sys/bus/pci/devices/${address}`;
    let config: Uint8Array;
    try {
      config = Deno.readFileSync(`${this.path}/config`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new IxyError(
          `No PCI device ${address}: ${this.path} does not exist. ` +
            `Check the address with: lspci -D`,
        );
      }
      if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
        throw new IxyError(
          `Cannot read the config space of ${address}: permission denied. ` +
            `Run as root (sudo) and with deno run -A.`,
        );
      }
      throw e;
    }
    const header = parseConfigHeader(config);
    this.vendorId = header.vendorId;
    this.deviceId = header.deviceId;
    this.baseClass = header.baseClass;
    this.originalDriver = this.driver;
  }

  /** Opens the device at `address` (validated with {@link parsePciAddress}). */
  static open(address: string): PciDevice {
    return new PciDevice(parsePciAddress(address));
  }

  /** `vvvv:dddd`, the IDs as lspci prints them. */
  get ids(): string {
    const hex = (n: number) => n.toString(16).padStart(4, "0");
    return `${hex(this.vendorId)}:${hex(this.deviceId)}`;
  }

  /** Throws unless this is a network controller: we never take other devices. */
  requireNetworkController(): void {
    if (this.baseClass === PCI_CLASS_NETWORK) return;
    const name = CLASS_NAMES[this.baseClass] ?? "unknown class";
    throw new IxyError(
      `${this.address} is not a network controller (PCI class 0x${
        this.baseClass.toString(16).padStart(2, "0")
      }, ${name}): refusing to take it. Pick an Ethernet controller from: lspci -D | grep -i ethernet`,
    );
  }

  /** Name of the kernel driver currently bound, e.g. `virtio-pci`, or undefined. */
  get driver(): string | undefined {
    try {
      return Deno.readLinkSync(`${this.path}/driver`).split("/").pop();
    } catch {
      return undefined;
    }
  }

  /** Kernel network interfaces (e.g. `eth0`) that currently belong to this device. */
  netInterfaces(): string[] {
    const names: string[] = [];
    const scan = (dir: string) => {
      try {
        for (const e of Deno.readDirSync(`${dir}/net`)) names.push(e.name);
      } catch { /* no net/ directory */ }
    };
    scan(this.path);
    // virtio puts its net device one level down: <device>/virtio<N>/net/<if>.
    try {
      for (const e of Deno.readDirSync(this.path)) {
        if (e.name.startsWith("virtio")) scan(`${this.path}/${e.name}`);
      }
    } catch { /* unreadable: nothing to report */ }
    return names;
  }

  /** Those of {@link netInterfaces} that are up (administratively: IFF_UP set). */
  interfacesUp(): string[] {
    return this.netInterfaces().filter((name) => {
      try {
        const flags = Number(Deno.readTextFileSync(`/sys/class/net/${name}/flags`).trim());
        return (flags & IFF_UP) !== 0;
      } catch {
        return false;
      }
    });
  }

  /**
   * Throws unless every kernel interface of this device is down: taking a NIC
   * from under an interface that is up cuts off whoever uses it (a route, an
   * ssh session). Callers skip it on `--force` (`DeviceOptions.force`).
   */
  requireInterfacesDown(): void {
    const busy = this.interfacesUp();
    if (busy.length === 0) return;
    throw new IxyError(
      `${this.address} is in use by the kernel as ${busy.join(", ")} (interface up): refusing ` +
        `to take it. Take it down first (ip link set ${busy[0]} down) or pass --force.`,
    );
  }

  /** Detaches the kernel driver (writes our address to `driver/unbind`). */
  unbindDriver(): void {
    if (this.driver === undefined) return;
    this.#writeSysfs(`${this.path}/driver/unbind`, this.address, "unbind the kernel driver of");
  }

  /** Gives the device back to the driver it had when opened (if any). */
  rebindDriver(): void {
    const original = this.originalDriver;
    if (original === undefined || this.driver === original) return;
    this.#writeSysfs(`/sys/bus/pci/drivers/${original}/bind`, this.address, "rebind");
  }

  /** Reads `size` (1, 2 or 4) bytes of config space at `offset`. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    const buf = new Uint8Array(size);
    using file = this.#openConfig({ read: true });
    file.seekSync(offset, Deno.SeekMode.Start);
    if (file.readSync(buf) !== size) {
      throw new IxyError(`Cannot read config space of ${this.address} at 0x${offset.toString(16)}`);
    }
    const view = new DataView(buf.buffer);
    return size === 1
      ? view.getUint8(0)
      : size === 2
      ? view.getUint16(0, true)
      : view.getUint32(0, true);
  }

  /** Writes `size` (1, 2 or 4) bytes of config space at `offset`. */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    if (size === 1) view.setUint8(0, value);
    else if (size === 2) view.setUint16(0, value, true);
    else view.setUint32(0, value, true);
    using file = this.#openConfig({ write: true });
    file.seekSync(offset, Deno.SeekMode.Start);
    // A short write (sysfs cuts accesses at the end of the config space the
    // kernel lets us reach, e.g. 64 bytes for a device it cannot read
    // further) must not pass for a done one.
    const written = file.writeSync(buf);
    if (written !== size) {
      throw new IxyError(
        `Cannot write config space of ${this.address} at 0x${offset.toString(16)}: only ` +
          `${written} of ${size} bytes were written. Run as root; check dmesg for the device.`,
      );
    }
  }

  /**
   * Sets Bus Master Enable in the command register (PCI 3.0, section 6.2.2):
   * until then the device's DMA requests are ignored.
   */
  enableBusMastering(): void {
    const command = this.readConfig(PCI_CONFIG.COMMAND, 2);
    this.writeConfig(PCI_CONFIG.COMMAND, 2, command | PCI_COMMAND.BUS_MASTER);
  }

  /**
   * Clears Bus Master Enable (PCI 3.0, section 6.2.2): from now on the device
   * cannot start DMA, whatever its rings still say. The last step of a
   * driver's `close()`, after the device's own reset.
   */
  disableBusMastering(): void {
    const command = this.readConfig(PCI_CONFIG.COMMAND, 2);
    this.writeConfig(PCI_CONFIG.COMMAND, 2, command & ~PCI_COMMAND.BUS_MASTER);
  }

  /** Whether Bus Master Enable is set in the command register. */
  get busMastering(): boolean {
    return (this.readConfig(PCI_CONFIG.COMMAND, 2) & PCI_COMMAND.BUS_MASTER) !== 0;
  }

  /**
   * Finds a capability in the config-space capability list (PCI 3.0, section
   * 6.7) by ID, e.g. 0x11 for MSI-X; returns its offset, or 0 if absent.
   */
  findCapability(id: number): number {
    let offset = this.readConfig(PCI_CONFIG.CAPABILITIES_POINTER, 1) & 0xfc;
    for (let hops = 0; offset !== 0 && hops < 48; hops++) {
      if (this.readConfig(offset, 1) === id) return offset;
      offset = this.readConfig(offset + 1, 1) & 0xfc;
    }
    return 0;
  }

  /** The kind of BAR `n` from sysfs `resource`: "memory", "io" or "unused". */
  barKind(n: number): "memory" | "io" | "unused" {
    const line = Deno.readTextFileSync(`${this.path}/resource`).split("\n")[n] ?? "";
    const flags = Number(line.trim().split(/\s+/)[2] ?? "0");
    if (flags & IORESOURCE_MEM) return "memory";
    if (flags & IORESOURCE_IO) return "io";
    return "unused";
  }

  /**
   * Maps memory BAR `n` into our address space (`mmap` of `resource<N>`), so
   * registers become an array (see mmio.ts). The mapping lives until exit.
   */
  mapMemoryBar(n: number): MmioRegion {
    if (this.barKind(n) !== "memory") {
      throw new IxyError(`Cannot map BAR${n} of ${this.address}: it is not a memory BAR.`);
    }
    const path = `${this.path}/resource${n}`;
    const size = Deno.statSync(path).size;
    const fd = libc().open(cString(path), LIBC.O_RDWR | LIBC.O_CLOEXEC, 0);
    if (fd < 0) throw sysError(`Cannot map BAR${n} of ${this.address}`, "Run as root (sudo).");
    const p = libc().mmap(
      null,
      BigInt(size),
      LIBC.PROT_READ | LIBC.PROT_WRITE,
      LIBC.MAP_SHARED,
      fd,
      0n,
    );
    const failed = p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn;
    const err = failed ? sysError(`Cannot map BAR${n} of ${this.address}`) : undefined;
    libc().close(fd); // the mapping stays valid after close
    if (err) throw err;
    return new MmioRegion(Deno.UnsafePointerView.getArrayBuffer(p!, size));
  }

  /** Opens I/O BAR `n` (`resource<N>`) for port I/O (see io_port.ts). */
  openIoBar(n: number): IoPortRegion {
    if (this.barKind(n) !== "io") {
      throw new IxyError(`Cannot open BAR${n} of ${this.address} for port I/O: not an I/O BAR.`);
    }
    return new IoPortRegion(`${this.path}/resource${n}`);
  }

  #openConfig(options: Deno.OpenOptions): Deno.FsFile {
    try {
      return Deno.openSync(`${this.path}/config`, options);
    } catch (e) {
      throw new IxyError(
        `Cannot open the config space of ${this.address}: ${(e as Error).message}. ` +
          `Run as root (sudo).`,
      );
    }
  }

  #writeSysfs(file: string, text: string, what: string): void {
    try {
      Deno.writeTextFileSync(file, text);
    } catch (e) {
      throw new IxyError(
        `Cannot ${what} ${this.address} (${file}): ${(e as Error).message}. Run as root (sudo).`,
      );
    }
  }
}

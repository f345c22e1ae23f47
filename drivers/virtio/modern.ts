/**
 * The modern virtio PCI transport (virtio 1.1, section 4.1.4, "Virtio
 * Structure PCI Capabilities"): what a virtio 1.x device (QEMU's
 * `virtio-net-pci` with `disable-legacy=on`, PCI ID 1af4:1041) speaks.
 *
 * The device describes where its registers are with vendor-specific PCI
 * capabilities (ID 0x09, PCI 3.0 section 6.7) in config space, one per
 * structure: common configuration, notifications, ISR status and the
 * device-specific configuration, each "BAR n, offset, length". We walk the
 * capability list ({@link findVirtioPciCapabilities}), map the BARs and then
 * program the structures with memory accesses of each field's natural width
 * (section 4.1.3.1).
 *
 * The point of it for ixy.ts: 64-bit feature bits, so the device can offer
 * VIRTIO_F_ACCESS_PLATFORM (bit 33, section 6.1) — its DMA then goes through
 * the IOMMU, and VFIO can give it to a normal user.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import { hi32, lo32 } from "../../src/memory.ts";
import {
  PCI_CAP_ID_VNDR,
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CAP_FIELD,
  VIRTIO_PCI_COMMON,
} from "./constants.ts";
import type { ByteRegisters } from "../../src/device.ts";
import type { VirtioTransport } from "./transport.ts";
import { type Virtqueue, virtqueueLayout } from "./virtqueue.ts";

/** Reads `size` bytes of PCI config space at `offset` (little-endian), e.g. `PciDevice.readConfig`. */
export type PciConfigRead = (offset: number, size: 1 | 2 | 4) => number;

/** One virtio structure: where it lives (from its `struct virtio_pci_cap`, section 4.1.4). */
export interface VirtioPciStructure {
  /** The BAR holding it (0-5). */
  readonly bar: number;
  /** Its offset inside the BAR. */
  readonly offset: number;
  /** Its length in bytes. */
  readonly length: number;
  /** Config-space offset of the capability that described it. */
  readonly capOffset: number;
}

/** The virtio structures of a modern device (the first capability of each type, section 4.1.4). */
export interface VirtioPciCapabilities {
  /** Common configuration (section 4.1.4.3). */
  readonly common: VirtioPciStructure;
  /** Notification area (section 4.1.4.4). */
  readonly notify: VirtioPciStructure;
  /** Byte distance between the notification addresses of queue_notify_off 0, 1, ... */
  readonly notifyOffMultiplier: number;
  /** ISR status (section 4.1.4.5); we use MSI-X or poll, but the device must have it. */
  readonly isr: VirtioPciStructure;
  /** Device-specific configuration (section 4.1.4.6), if the device has any. */
  readonly device?: VirtioPciStructure;
}

/** Status register bit "Capabilities List" (PCI 3.0, section 6.2.3). */
const PCI_STATUS_CAP_LIST = 0x10;
/** Config offsets of the status register and the capabilities pointer (PCI 3.0, section 6.1). */
const PCI_STATUS = 0x06;
const PCI_CAPABILITIES_POINTER = 0x34;
/** Capabilities live after the 64-byte header (PCI 3.0, section 6.7). */
const PCI_CAP_MIN_OFFSET = 0x40;
/** More hops than 256 bytes of config space can hold capabilities: a loop. */
const PCI_CAP_MAX_HOPS = 48;
/** Size of `struct virtio_pci_cap`; the notify capability has 4 more bytes. */
const VIRTIO_PCI_CAP_LEN = 16;

/**
 * Walks the capability list of PCI config space (PCI 3.0, section 6.7:
 * status bit 4 says there is one, offset 0x34 points to the first entry,
 * each entry is {id u8, next u8, ...}; the low two bits of pointers are
 * reserved) and collects the virtio structure capabilities (ID 0x09,
 * virtio 1.1 section 4.1.4): the first of each `cfg_type`, skipping those
 * with a reserved BAR number (section 4.1.4.1: the driver MUST ignore them)
 * or too short to be read.
 *
 * @param read reads config space (`PciDevice.readConfig`, VFIO's config region, a test array)
 * @returns the structures, or undefined if the device has no common and
 *   notify capability (a legacy-only device)
 */
export function findVirtioPciCapabilities(read: PciConfigRead): VirtioPciCapabilities | undefined {
  if (!(read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST)) return undefined;
  const found = new Map<number, VirtioPciStructure>();
  let notifyOffMultiplier = 0;
  let offset = read(PCI_CAPABILITIES_POINTER, 1) & 0xfc;
  for (let hops = 0; offset >= PCI_CAP_MIN_OFFSET && hops < PCI_CAP_MAX_HOPS; hops++) {
    const F = VIRTIO_PCI_CAP_FIELD;
    if (read(offset + F.VNDR, 1) === PCI_CAP_ID_VNDR) {
      const len = read(offset + F.LEN, 1);
      const type = read(offset + F.CFG_TYPE, 1);
      const bar = read(offset + F.BAR, 1);
      const isNotify = type === VIRTIO_PCI_CAP.NOTIFY_CFG;
      const longEnough = len >= VIRTIO_PCI_CAP_LEN + (isNotify ? 4 : 0);
      if (bar <= 5 && longEnough && !found.has(type)) {
        found.set(type, {
          bar,
          offset: read(offset + F.OFFSET, 4) >>> 0,
          length: read(offset + F.LENGTH, 4) >>> 0,
          capOffset: offset,
        });
        if (isNotify) notifyOffMultiplier = read(offset + F.NOTIFY_OFF_MULTIPLIER, 4) >>> 0;
      }
    }
    offset = read(offset + F.NEXT, 1) & 0xfc;
  }
  const common = found.get(VIRTIO_PCI_CAP.COMMON_CFG);
  const notify = found.get(VIRTIO_PCI_CAP.NOTIFY_CFG);
  const isr = found.get(VIRTIO_PCI_CAP.ISR_CFG);
  if (common === undefined || notify === undefined) return undefined;
  if (isr === undefined) return undefined;
  return { common, notify, notifyOffMultiplier, isr, device: found.get(VIRTIO_PCI_CAP.DEVICE_CFG) };
}

/** A mapped memory BAR: `ByteRegisters` plus its size (`MmioRegion` fits). */
export interface VirtioMemoryBar extends ByteRegisters {
  /** Size of the BAR in bytes. */
  readonly byteLength: number;
}

/** Options of {@link VirtioModernTransport.open}. */
export interface VirtioModernTransportOptions {
  /** The device's name for error messages (its PCI address). */
  name: string;
  /** Where the structures are ({@link findVirtioPciCapabilities}). */
  capabilities: VirtioPciCapabilities;
  /**
   * Maps memory BAR `n` (`PciDevice.mapMemoryBar` as root, `VfioPciDevice.mapBar`
   * through VFIO); called once per BAR the structures use.
   */
  mapBar: (n: number) => VirtioMemoryBar;
}

/** One structure inside its mapped BAR. */
interface Window {
  readonly regs: VirtioMemoryBar;
  readonly base: number;
  readonly length: number;
}

/**
 * The modern interface: the common configuration structure for status,
 * features and queues (section 4.1.4.3), the notify structure for doorbells
 * (section 4.1.4.4), the device-specific structure for the config (4.1.4.6).
 */
export class VirtioModernTransport implements VirtioTransport {
  /** Always `"modern"`. */
  readonly kind = "modern";
  #name: string;
  #common: Window;
  #notify: Window;
  #device: Window | undefined;
  #multiplier: number;
  /** Byte offset in the notify BAR of each queue's doorbell, by queue index. */
  #notifyAt: number[] = [];

  private constructor(
    name: string,
    parts: { common: Window; notify: Window; device?: Window; multiplier: number },
  ) {
    this.#name = name;
    this.#common = parts.common;
    this.#notify = parts.notify;
    this.#device = parts.device;
    this.#multiplier = parts.multiplier;
  }

  /**
   * Maps the BARs of the structures in `options.capabilities` and checks that
   * each structure lies inside its BAR and that the common configuration is
   * complete.
   */
  static open(options: VirtioModernTransportOptions): VirtioModernTransport {
    const { name, capabilities: caps } = options;
    const bars = new Map<number, VirtioMemoryBar>();
    const window = (s: VirtioPciStructure, what: string): Window => {
      let regs = bars.get(s.bar);
      if (regs === undefined) {
        regs = options.mapBar(s.bar);
        bars.set(s.bar, regs);
      }
      if (s.offset + s.length > regs.byteLength) {
        throw new IxyError(
          `Virtio NIC ${name}: its ${what} structure (BAR${s.bar} offset 0x${
            s.offset.toString(16)
          }, ${s.length} bytes; capability at config 0x${s.capOffset.toString(16)}) does not ` +
            `fit into BAR${s.bar} (${regs.byteLength} bytes). The device is broken or not a ` +
            `virtio 1.x device; use the legacy transport (transport: "legacy").`,
        );
      }
      return { regs, base: s.offset, length: s.length };
    };
    if (caps.common.length < VIRTIO_PCI_COMMON.SIZE) {
      throw new IxyError(
        `Virtio NIC ${name}: its common configuration is ${caps.common.length} bytes, less than ` +
          `the ${VIRTIO_PCI_COMMON.SIZE} of virtio 1.1 section 4.1.4.3. Use the legacy ` +
          `transport (transport: "legacy") if the device has one.`,
      );
    }
    return new VirtioModernTransport(name, {
      common: window(caps.common, "common configuration"),
      notify: window(caps.notify, "notification"),
      device: caps.device ? window(caps.device, "device configuration") : undefined,
      multiplier: caps.notifyOffMultiplier,
    });
  }

  /** `device_status` (section 4.1.4.3). */
  readStatus(): number {
    const c = this.#common;
    return c.regs.read8(c.base + VIRTIO_PCI_COMMON.DEVICE_STATUS);
  }

  /**
   * Writes `device_status`. Writing 0 resets the device; the driver then
   * waits until it reads 0 (section 4.1.4.3.2).
   */
  writeStatus(status: number): void {
    const c = this.#common;
    c.regs.write8(c.base + VIRTIO_PCI_COMMON.DEVICE_STATUS, status);
  }

  /**
   * The 64 feature bits the device offers: `device_feature_select` 0 and 1,
   * each followed by a read of `device_feature` (section 4.1.4.3).
   */
  deviceFeatures(): bigint {
    const { regs, base } = this.#common;
    regs.write32(base + VIRTIO_PCI_COMMON.DEVICE_FEATURE_SELECT, 0);
    const low = regs.read32(base + VIRTIO_PCI_COMMON.DEVICE_FEATURE) >>> 0;
    regs.write32(base + VIRTIO_PCI_COMMON.DEVICE_FEATURE_SELECT, 1);
    const high = regs.read32(base + VIRTIO_PCI_COMMON.DEVICE_FEATURE) >>> 0;
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** Writes the accepted bits through `driver_feature_select` 0 and 1 (section 4.1.4.3). */
  writeDriverFeatures(features: bigint): void {
    const { regs, base } = this.#common;
    regs.write32(base + VIRTIO_PCI_COMMON.DRIVER_FEATURE_SELECT, 0);
    regs.write32(base + VIRTIO_PCI_COMMON.DRIVER_FEATURE, Number(features & 0xffff_ffffn));
    regs.write32(base + VIRTIO_PCI_COMMON.DRIVER_FEATURE_SELECT, 1);
    regs.write32(base + VIRTIO_PCI_COMMON.DRIVER_FEATURE, Number((features >> 32n) & 0xffff_ffffn));
  }

  /** `msix_config`, read back (section 4.1.5.1.2). */
  setConfigVector(vector: number): number {
    const { regs, base } = this.#common;
    regs.write16(base + VIRTIO_PCI_COMMON.MSIX_CONFIG, vector);
    return regs.read16(base + VIRTIO_PCI_COMMON.MSIX_CONFIG);
  }

  /** Section 4.1.5.1.3 steps 1-2: write `queue_select`, read `queue_size`. */
  queueSize(index: number): number {
    const { regs, base } = this.#common;
    regs.write16(base + VIRTIO_PCI_COMMON.QUEUE_SELECT, index);
    return regs.read16(base + VIRTIO_PCI_COMMON.QUEUE_SIZE);
  }

  /**
   * Section 4.1.5.1.3, "Virtqueue Configuration": select the queue, keep the
   * size it offered, write the MSI-X vector and read it back (section
   * 4.1.5.1.2), write the addresses of the descriptor table, available ring
   * ("driver area") and used ring ("device area") — our rings keep the
   * legacy contiguous layout, which satisfies the alignments of section
   * 2.6 — and set `queue_enable` to 1. Also reads `queue_notify_off` for
   * {@link notify} (section 4.1.4.4).
   */
  activateQueue(vq: Virtqueue, vector?: number): number | undefined {
    const C = VIRTIO_PCI_COMMON;
    const { regs, base } = this.#common;
    regs.write16(base + C.QUEUE_SELECT, vq.index);
    regs.write16(base + C.QUEUE_SIZE, vq.size);
    let got: number | undefined;
    if (vector !== undefined) {
      regs.write16(base + C.QUEUE_MSIX_VECTOR, vector);
      got = regs.read16(base + C.QUEUE_MSIX_VECTOR);
    }
    const layout = virtqueueLayout(vq.size);
    this.#write64(base + C.QUEUE_DESC, vq.memory.physAddr(0));
    this.#write64(base + C.QUEUE_DRIVER, vq.memory.physAddr(layout.availOffset));
    this.#write64(base + C.QUEUE_DEVICE, vq.memory.physAddr(layout.usedOffset));
    // Section 4.1.4.4: the doorbell of the queue is at cap.offset +
    // queue_notify_off * notify_off_multiplier; the structure must hold 2 bytes there.
    const at = regs.read16(base + C.QUEUE_NOTIFY_OFF) * this.#multiplier;
    if (at + 2 > this.#notify.length) {
      throw new IxyError(
        `Virtio NIC ${this.#name}: the doorbell of queue ${vq.index} (offset ${at}) lies outside ` +
          `its notification structure (${this.#notify.length} bytes), against virtio 1.1 ` +
          `section 4.1.4.4. The device is broken; use the legacy transport if it has one.`,
      );
    }
    this.#notifyAt[vq.index] = this.#notify.base + at;
    regs.write16(base + C.QUEUE_ENABLE, 1);
    return got;
  }

  /**
   * Writes the queue index to the queue's doorbell (section 4.1.4.4.1:
   * without VIRTIO_F_NOTIFICATION_DATA, the 16-bit virtqueue index).
   */
  notify(index: number): void {
    this.#notify.regs.write16(this.#notifyAt[index], index);
  }

  /** `config_generation` (section 4.1.4.3; how to use it: section 2.4.1). */
  configGeneration(): number {
    const c = this.#common;
    return c.regs.read8(c.base + VIRTIO_PCI_COMMON.CONFIG_GENERATION);
  }

  /** One byte of the device-specific configuration structure. */
  readConfig8(offset: number): number {
    const d = this.#deviceWindow(offset, 1);
    return d.regs.read8(d.base + offset);
  }

  /** A 16-bit field of the device-specific configuration structure. */
  readConfig16(offset: number): number {
    const d = this.#deviceWindow(offset, 2);
    return d.regs.read16(d.base + offset);
  }

  /** Nothing to release: BAR mappings stay until exit, as in src/pci.ts. */
  close(): void {}

  /** A 64-bit field as two 32-bit writes, low half first (section 4.1.3.1 allows it). */
  #write64(offset: number, value: number): void {
    const regs = this.#common.regs;
    regs.write32(offset, lo32(value));
    regs.write32(offset + 4, hi32(value));
  }

  #deviceWindow(offset: number, size: number): Window {
    const d = this.#device;
    if (d === undefined || offset + size > d.length) {
      throw new IxyError(
        `Virtio NIC ${this.#name}: device configuration offset ${offset} is not there (the ` +
          `device has ${d ? `${d.length} bytes` : "no device configuration capability"}). ` +
          `It offered a feature whose config field it lacks; report the device's model.`,
      );
    }
    return d;
  }
}

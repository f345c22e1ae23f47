/**
 * An "instant" legacy virtio-net device for benchmarks: the device side of
 * the rings with no work in between, so a benchmark measures the driver.
 *
 * It is not a mock of our driver's functions. It plays the device's role only
 * through what a device sees: the legacy header registers (`ByteRegisters`,
 * as the I/O BAR that {@link InstantVirtioDevice.pciFunction} hands out) and the virtqueue
 * memory at the address the driver wrote into QUEUE_PFN (virtio 1.1, 2.6.2).
 * {@link InstantVirtioDevice.complete} consumes available-ring entries and
 * writes used-ring entries directly in that memory, as fast as it can — as a
 * vhost back end that polls would, minus copying the frame.
 *
 * What it does not do: move packet bytes (a received "frame" is whatever the
 * buffer held before; the driver only sees the length), interrupts, or MSI-X.
 * It sets VRING_USED_F_NO_NOTIFY (a polling device), so the driver's
 * notification (a system call on a real NIC) is not on the measured path;
 * {@link InstantVirtioDevice.notifications} counts any that happen anyway.
 *
 * @module
 */

import type { ByteRegisters, PciFunction } from "../../src/device.ts";
import {
  VIRTIO_NET_CTRL,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_QUEUE,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_PCI,
  VIRTIO_PCI_DEVICE_NET_LEGACY,
  VIRTIO_PCI_QUEUE_ADDR_SHIFT,
  VIRTIO_PCI_VENDOR_ID,
  VIRTIO_PCI_VRING_ALIGN,
  VRING_USED_F_NO_NOTIFY,
} from "../../drivers/virtio/constants.ts";
import { SimulatedDmaAllocator } from "./dma_allocator.ts";

/** Entries per queue, QEMU's default for virtio-net-pci. */
export const INSTANT_VIRTIO_QUEUE_SIZE = 256;

const OFFERED_FEATURES = (1 << VIRTIO_NET_F.MAC) | (1 << VIRTIO_NET_F.STATUS) |
  (1 << VIRTIO_NET_F.CTRL_VQ) | (1 << VIRTIO_NET_F.CTRL_RX) | (1 << VIRTIO_NET_F.ANY_LAYOUT);

/** The device's view of one split virtqueue (legacy layout, section 2.6.2). */
class DeviceQueue {
  readonly size: number;
  readonly desc: Uint32Array;
  readonly avail: Uint16Array;
  readonly usedHeader: Uint16Array;
  readonly usedRing: Uint32Array;
  /** The next avail.idx value we consume. */
  lastAvail = 0;
  /** Our used.idx (published with Atomics.store). */
  usedIdx = 0;

  constructor(buffer: ArrayBufferLike, offset: number, size: number) {
    // The layout formula of section 2.6.2, computed here (not taken from the driver).
    const align = (n: number) => Math.ceil(n / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN;
    const availOffset = offset + 16 * size;
    const usedOffset = offset + align(16 * size + 2 * (3 + size));
    this.size = size;
    this.desc = new Uint32Array(buffer, offset, 4 * size);
    this.avail = new Uint16Array(buffer, availOffset, 3 + size);
    this.usedHeader = new Uint16Array(buffer, usedOffset, 2);
    this.usedRing = new Uint32Array(buffer, usedOffset + 4, 2 * size);
    // A polling device never needs a notification (section 2.6.10).
    this.usedHeader[0] = VRING_USED_F_NO_NOTIFY;
  }
}

/** Options for {@link InstantVirtioDevice}. */
export interface InstantVirtioOptions {
  /** Set VRING_USED_F_NO_NOTIFY (default true: a polling device). */
  noNotify?: boolean;
}

/** See the module documentation. */
export class InstantVirtioDevice implements ByteRegisters {
  /** DMA memory for the driver: plain shared memory with made-up addresses. */
  readonly dma: SimulatedDmaAllocator = new SimulatedDmaAllocator();
  /** The MAC address in the config space. */
  readonly mac: Uint8Array = Uint8Array.of(0x02, 0x69, 0x78, 0x79, 0xbe, 0x01);
  /** QUEUE_NOTIFY writes for the RX and TX queues seen so far. */
  notifications = 0;
  #status = 0;
  #guestFeatures = 0;
  #queueSel = 0;
  #pfn: number[] = [0, 0, 0];
  #queues: (DeviceQueue | undefined)[] = [undefined, undefined, undefined];
  #noNotify: boolean;

  /** Creates a device with three queues of {@link INSTANT_VIRTIO_QUEUE_SIZE} entries. */
  constructor(options: InstantVirtioOptions = {}) {
    this.#noNotify = options.noNotify ?? true;
  }

  /**
   * The device as `VirtioDevice.open` sees a PCI function: a transitional
   * virtio-net (1af4:1000) whose I/O BAR0 is this object, no capabilities
   * (config space reads 0), MSI-X off, DMA from {@link dma}.
   */
  pciFunction(name: string): PciFunction {
    return {
      address: name,
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_DEVICE_NET_LEGACY,
      ids: "1af4:1000",
      via: "sysfs",
      readConfig: () => 0,
      barKind: (n) => n === 0 ? "io" : "unused",
      mapMemoryBar: (n) => {
        throw new Error(`instant virtio device: no memory BAR${n}`);
      },
      openIoBar: () => this,
      msixEnabled: false,
      dmaAllocator: () => this.dma,
      disableBusMastering: () => {}, // no bus to master
    };
  }

  /** Features the driver accepted. */
  get guestFeatures(): number {
    return this.#guestFeatures;
  }

  /**
   * Completes every available entry of queue `queue` (at most `max`): writes
   * `{id, len}` into the used ring and publishes used.idx once. For the
   * receive queue `len` is the bytes "written" (net header + frame), for the
   * transmit queue 0 (the spec's len counts only bytes written to the
   * buffer). Returns the number of entries completed.
   */
  complete(queue: number, len: number, max = 0xffff): number {
    const q = this.#queues[queue]!;
    const mask = q.size - 1;
    // Acquire: read the driver's published index once (it pairs with the
    // driver's Atomics.store in publishAvailable).
    const availIdx = Atomics.load(q.avail, 1);
    let n = 0;
    let used = q.usedIdx;
    let last = q.lastAvail;
    while (last !== availIdx && n < max) {
      const id = q.avail[2 + (last & mask)];
      const slot = (used & mask) << 1;
      q.usedRing[slot] = id;
      q.usedRing[slot + 1] = len;
      last = (last + 1) & 0xffff;
      used = (used + 1) & 0xffff;
      n++;
    }
    q.lastAvail = last;
    q.usedIdx = used;
    // Release: the used entries are written before the index that publishes them.
    if (n > 0) Atomics.store(q.usedHeader, 1, used);
    return n;
  }

  /** Receives `max` frames of `frameLen` bytes (net header added) into posted buffers. */
  receive(frameLen: number, max = 0xffff): number {
    return this.complete(VIRTIO_NET_QUEUE.RX, frameLen + VIRTIO_NET_HDR_SIZE, max);
  }

  /** "Sends" every queued frame: hands all TX descriptors back as used. */
  transmit(): number {
    return this.complete(VIRTIO_NET_QUEUE.TX, 0);
  }

  // --- the legacy header (section 4.1.4.8) ---

  /** Reads one byte (status, ISR, config space). */
  read8(offset: number): number {
    if (offset === VIRTIO_PCI.STATUS) return this.#status;
    if (offset === VIRTIO_PCI.ISR) return 0;
    const c = offset - VIRTIO_PCI.CONFIG;
    if (c >= 0 && c < 6) return this.mac[c];
    if (c === 6) return VIRTIO_NET_S_LINK_UP;
    return 0;
  }

  /** Reads 16 bits (queue size, queue select, config status). */
  read16(offset: number): number {
    if (offset === VIRTIO_PCI.QUEUE_NUM) return this.#queueSel < 3 ? INSTANT_VIRTIO_QUEUE_SIZE : 0;
    if (offset === VIRTIO_PCI.QUEUE_SEL) return this.#queueSel;
    if (offset === VIRTIO_PCI.CONFIG + 6) return VIRTIO_NET_S_LINK_UP;
    return this.read8(offset) | (this.read8(offset + 1) << 8);
  }

  /** Reads 32 bits (features, queue address). */
  read32(offset: number): number {
    if (offset === VIRTIO_PCI.HOST_FEATURES) return OFFERED_FEATURES;
    if (offset === VIRTIO_PCI.GUEST_FEATURES) return this.#guestFeatures;
    if (offset === VIRTIO_PCI.QUEUE_PFN) return this.#pfn[this.#queueSel] ?? 0;
    return 0;
  }

  /** Writes the status byte; 0 resets the device. */
  write8(offset: number, value: number): void {
    if (offset !== VIRTIO_PCI.STATUS) return;
    this.#status = value;
    if (value === 0) {
      this.#queues = [undefined, undefined, undefined];
      this.#pfn = [0, 0, 0];
      this.#guestFeatures = 0;
    }
  }

  /** Writes queue select or a queue notification. */
  write16(offset: number, value: number): void {
    if (offset === VIRTIO_PCI.QUEUE_SEL) this.#queueSel = value;
    if (offset === VIRTIO_PCI.QUEUE_NOTIFY) {
      if (value === VIRTIO_NET_QUEUE.CTRL) this.#control();
      else this.notifications++;
    }
  }

  /** Writes accepted features or a queue's page frame number. */
  write32(offset: number, value: number): void {
    if (offset === VIRTIO_PCI.GUEST_FEATURES) this.#guestFeatures = value;
    if (offset === VIRTIO_PCI.QUEUE_PFN && this.#queueSel < 3) {
      this.#pfn[this.#queueSel] = value;
      const phys = value * 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT;
      const mem = this.dma.translate(phys, 1);
      if (mem === undefined) throw new Error(`QUEUE_PFN 0x${value.toString(16)}: not DMA memory`);
      const q = new DeviceQueue(mem.buffer, mem.offset, INSTANT_VIRTIO_QUEUE_SIZE);
      if (!this.#noNotify) q.usedHeader[0] = 0;
      this.#queues[this.#queueSel] = q;
    }
  }

  /**
   * Executes the control commands queued (section 5.1.6.5): each is a chain
   * whose last descriptor is the one-byte answer; we accept every command.
   */
  #control(): void {
    const q = this.#queues[VIRTIO_NET_QUEUE.CTRL]!;
    const mask = q.size - 1;
    const availIdx = Atomics.load(q.avail, 1);
    while (q.lastAvail !== availIdx) {
      const head = q.avail[2 + (q.lastAvail & mask)];
      let d = head;
      while (q.desc[d * 4 + 3] & 1) d = q.desc[d * 4 + 3] >>> 16; // follow NEXT
      const phys = q.desc[d * 4] + q.desc[d * 4 + 1] * 0x1_0000_0000;
      const mem = this.dma.translate(phys, 1)!;
      new Uint8Array(mem.buffer, mem.offset, 1)[0] = VIRTIO_NET_CTRL.OK;
      const slot = (q.usedIdx & mask) << 1;
      q.usedRing[slot] = head;
      q.usedRing[slot + 1] = 1;
      q.lastAvail = (q.lastAvail + 1) & 0xffff;
      q.usedIdx = (q.usedIdx + 1) & 0xffff;
      Atomics.store(q.usedHeader, 1, q.usedIdx);
    }
  }
}

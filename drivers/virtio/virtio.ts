/**
 * The virtio-net driver, legacy (transitional) interface — what QEMU's
 * `virtio-net-pci` offers. Read {@link VirtioDevice.init} first: it follows
 * the initialisation sequence of the virtio 1.1 spec, section 3.1.1 (and
 * 3.1.2 for legacy devices), step by step.
 *
 * Design, as in ixy: one receive queue, one transmit queue and the control
 * queue; we poll (optional MSI-X interrupt for an idle receive queue over
 * VFIO: ./interrupts.ts); packets travel in buffers of our
 * mempools, with the 10-byte `virtio_net_hdr` written into each buffer's
 * headroom right in front of the packet, so one descriptor covers header and
 * packet (allowed by VIRTIO_F_ANY_LAYOUT, section 2.6.4.3).
 *
 * Unlike the C ixy we do not require checksum offload (VIRTIO_NET_F_CSUM):
 * QEMU's hub and socket back ends do not offer it, and we never need it.
 *
 * @module
 */

import type { DeviceOptions, IxyDevice } from "../../src/device.ts";
import type { DmaAllocator } from "../../src/memory.ts";
import type { PciDevice } from "../../src/pci.ts";
import { Mempool, PKT_BUF_HEADER, PKT_BUF_HEADROOM, type PktBuf } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { IxyError } from "../../src/error.ts";
import { sleepMicros } from "../../src/mmio.ts";
import {
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_CONFIG,
  VIRTIO_NET_CTRL,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_QUEUE,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_PCI,
  VIRTIO_PCI_QUEUE_ADDR_SHIFT,
  VIRTIO_STATUS,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F,
} from "./constants.ts";
import { Virtqueue } from "./virtqueue.ts";
import { VirtioInterrupts } from "./interrupts.ts";
import type { InterruptVector } from "../../src/interrupts.ts";

/** Features we cannot work without. */
const REQUIRED_FEATURES = (1 << VIRTIO_NET_F.CTRL_VQ) | (1 << VIRTIO_NET_F.CTRL_RX) |
  (1 << VIRTIO_NET_F.ANY_LAYOUT);
/** Features we use when offered. */
const OPTIONAL_FEATURES = (1 << VIRTIO_NET_F.MAC) | (1 << VIRTIO_NET_F.STATUS);

/** Receive buffers per receive-queue entry (the app may hold some while we refill). */
const RX_POOL_FACTOR = 4;
/** Where the virtio_net_hdr starts, counted from the start of a packet buffer. */
const NET_HDR_OFFSET = PKT_BUF_HEADER - VIRTIO_NET_HDR_SIZE;
/** Same, counted inside the buffer's headroom. */
const NET_HDR_IN_HEADROOM = PKT_BUF_HEADROOM - VIRTIO_NET_HDR_SIZE;

/** PCI capability ID of MSI-X (PCI 3.0, section 6.8.2). */
const PCI_CAP_ID_MSIX = 0x11;

/**
 * Access to the legacy virtio header (section 4.1.4.8) by byte offset and
 * width. On a real NIC this is the I/O BAR (`IoPortRegion` of src/io_port.ts
 * satisfies it); the benchmarks' "instant device" (tools/bench/) supplies its own.
 */
export interface VirtioLegacyRegisters {
  /** Reads one byte at `offset`. */
  read8(offset: number): number;
  /** Reads a 16-bit value at `offset`. */
  read16(offset: number): number;
  /** Reads a 32-bit value at `offset`. */
  read32(offset: number): number;
  /** Writes one byte at `offset`. */
  write8(offset: number, value: number): void;
  /** Writes a 16-bit value at `offset`. */
  write16(offset: number, value: number): void;
  /** Writes a 32-bit value at `offset`. */
  write32(offset: number, value: number): void;
  /** Releases the registers (closes the BAR file); optional. */
  close?(): void;
}

/** Options of {@link VirtioDevice.attach}. */
export interface VirtioAttachOptions extends DeviceOptions {
  /** Name to report as {@link VirtioDevice.pciAddress}. */
  name: string;
  /** The PCI function, if there is one (kept for handing it back to the kernel). */
  pci?: PciDevice;
  /** True while MSI-X is enabled: the device config then starts 4 bytes later. */
  msixEnabled?: boolean;
  /**
   * With `interrupts: true` and MSI-X enabled: where MSI-X vector 0 arrives
   * (a VFIO eventfd); the receive queue gets vector 0 (./interrupts.ts).
   */
  interruptVector?: InterruptVector;
}

/** A virtio-net NIC driven through its legacy I/O-port interface. */
export class VirtioDevice implements IxyDevice {
  /** Always `"virtio"`. */
  readonly driverName = "virtio";
  /** PCI address of the NIC. */
  readonly pciAddress: string;
  /** The PCI function (for handing it back to the kernel driver); undefined after {@link attach} without one. */
  readonly pci?: PciDevice;
  /** One receive queue (multi-queue virtio-net is not supported, as in ixy). */
  readonly numRxQueues = 1;
  /** One transmit queue. */
  readonly numTxQueues = 1;
  /** The receive queue's MSI-X interrupt, with `interrupts: true` over VFIO. */
  interrupts?: VirtioInterrupts;

  #io: VirtioLegacyRegisters;
  #features: number;
  #configOffset: number;
  #rx: Virtqueue;
  #tx: Virtqueue;
  #ctrl: Virtqueue;
  #rxPool: Mempool;
  // Counters since the last readStats (software statistics: virtio has none).
  #rxPackets = 0;
  #rxBytes = 0;
  #txPackets = 0;
  #txBytes = 0;
  #rxErrors = 0;

  private constructor(
    name: string,
    pci: PciDevice | undefined,
    parts: {
      io: VirtioLegacyRegisters;
      features: number;
      configOffset: number;
      rx: Virtqueue;
      tx: Virtqueue;
      ctrl: Virtqueue;
      rxPool: Mempool;
    },
  ) {
    this.pciAddress = name;
    this.pci = pci;
    this.#io = parts.io;
    this.#features = parts.features;
    this.#configOffset = parts.configOffset;
    this.#rx = parts.rx;
    this.#tx = parts.tx;
    this.#ctrl = parts.ctrl;
    this.#rxPool = parts.rxPool;
  }

  /**
   * Brings up the NIC at `pci` (already unbound from the kernel, with bus
   * mastering enabled), allocating rings and buffers from `dma`.
   */
  static init(pci: PciDevice, dma: DmaAllocator, options: DeviceOptions = {}): VirtioDevice {
    checkQueueCounts(pci.address, options);
    const io = pci.openIoBar(0);
    // The device-specific config follows the legacy header; it moves by 4
    // bytes while MSI-X is enabled (section 4.1.4.8).
    const msix = pci.findCapability(PCI_CAP_ID_MSIX);
    const msixEnabled = msix !== 0 && (pci.readConfig(msix + 2, 2) & 0x8000) !== 0;
    return VirtioDevice.attach(io, dma, { ...options, name: pci.address, pci, msixEnabled });
  }

  /**
   * Brings up a legacy virtio-net device reached through `io` — what
   * {@link init} does after opening the I/O BAR. Use it directly for
   * registers reached another way (VFIO, the benchmarks' instant device).
   */
  static attach(
    io: VirtioLegacyRegisters,
    dma: DmaAllocator,
    options: VirtioAttachOptions,
  ): VirtioDevice {
    checkQueueCounts(options.name, options);
    const name = options.name;
    const status = (bits: number) => io.write8(VIRTIO_PCI.STATUS, bits);

    // Section 3.1.1, step 1: reset the device by writing 0 to the status
    // register. For legacy devices the reset is done when the register reads 0.
    status(VIRTIO_STATUS.RESET);
    for (let i = 0; io.read8(VIRTIO_PCI.STATUS) !== VIRTIO_STATUS.RESET; i++) {
      if (i > 10_000) throw new IxyError(`Virtio NIC ${name} does not leave reset.`);
      sleepMicros(100);
    }
    // Steps 2 and 3: we have noticed the device (ACKNOWLEDGE) and know how to
    // drive it (DRIVER). Status bits accumulate.
    status(VIRTIO_STATUS.ACKNOWLEDGE);
    status(VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);

    // Step 4: feature negotiation. The device offers bits 0-31 (legacy has
    // only 32); we accept the subset we need. Legacy devices have no
    // FEATURES_OK step (section 3.1.2).
    const offered = io.read32(VIRTIO_PCI.HOST_FEATURES);
    if ((offered & REQUIRED_FEATURES) !== REQUIRED_FEATURES) {
      status(VIRTIO_STATUS.FAILED);
      const missing = (REQUIRED_FEATURES & ~offered) >>> 0;
      throw new IxyError(
        `Cannot use virtio NIC ${name}: it lacks required features (mask 0x${
          missing.toString(16)
        } of CTRL_VQ, CTRL_RX, ANY_LAYOUT). Give QEMU's virtio-net-pci its defaults (ctrl_vq=on, ctrl_rx=on).`,
      );
    }
    const features = (offered & (REQUIRED_FEATURES | OPTIONAL_FEATURES)) >>> 0;
    io.write32(VIRTIO_PCI.GUEST_FEATURES, features);

    // MSI-X vectors (section 4.1.5.1.2), while MSI-X is enabled: the receive
    // queue's interrupt on vector 0 if asked for, nothing else interrupts.
    const irqVector = options.msixEnabled && options.interrupts
      ? options.interruptVector
      : undefined;
    if (options.msixEnabled) io.write16(VIRTIO_PCI.MSI_CONFIG_VECTOR, VIRTIO_MSI_NO_VECTOR);

    // Step 7 (done before DRIVER_OK): set up the virtqueues (section 4.1.5.1.3
    // and 4.1.4.8 for legacy): select a queue, read its size, hand the device
    // the page number of its memory.
    const setupQueue = (index: number, extraBytes = 0): Virtqueue => {
      io.write16(VIRTIO_PCI.QUEUE_SEL, index);
      const size = io.read16(VIRTIO_PCI.QUEUE_NUM);
      if (size === 0) throw new IxyError(`Virtio NIC ${name} has no queue ${index}.`);
      const vq = new Virtqueue(dma, { index, size, extraBytes });
      io.write32(VIRTIO_PCI.QUEUE_PFN, vq.memory.physAddr(0) / 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT);
      if (options.msixEnabled) {
        // The queue's vector, read back: NO_VECTOR means the device refused it.
        const want = irqVector && index === VIRTIO_NET_QUEUE.RX ? 0 : VIRTIO_MSI_NO_VECTOR;
        io.write16(VIRTIO_PCI.MSI_QUEUE_VECTOR, want);
        if (io.read16(VIRTIO_PCI.MSI_QUEUE_VECTOR) !== want) {
          status(VIRTIO_STATUS.FAILED);
          throw new IxyError(`Virtio NIC ${name} refused MSI-X vector ${want} for queue ${index}.`);
        }
      }
      // We poll: ask the device not to interrupt us (section 2.6.7).
      vq.avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
      return vq;
    };
    const rx = setupQueue(VIRTIO_NET_QUEUE.RX);
    const tx = setupQueue(VIRTIO_NET_QUEUE.TX);
    const ctrl = setupQueue(VIRTIO_NET_QUEUE.CTRL, 4096); // + space for one command

    // Fill the receive queue with empty buffers (section 5.1.6.3): each
    // descriptor covers the net header in the headroom plus the data area.
    const rxPool = Mempool.create(dma, { numEntries: rx.size * RX_POOL_FACTOR });
    for (let i = 0; i < rx.size; i++) {
      const buf = rxPool.alloc()!;
      const id = rx.takeDescriptor();
      postRxBuffer(rx, id, buf);
      rx.pushAvailable(id);
    }
    rx.publishAvailable();

    // Step 8: the driver is ready.
    status(VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
    const now = io.read8(VIRTIO_PCI.STATUS);
    if (now & (VIRTIO_STATUS.FAILED | VIRTIO_STATUS.DEVICE_NEEDS_RESET)) {
      throw new IxyError(
        `Virtio NIC ${name} refused our setup (status 0x${now.toString(16)}).`,
      );
    }
    // Tell the device the receive queue has buffers (section 2.6.13.4).
    io.write16(VIRTIO_PCI.QUEUE_NOTIFY, VIRTIO_NET_QUEUE.RX);

    const configOffset = options.msixEnabled ? VIRTIO_PCI.CONFIG_MSIX : VIRTIO_PCI.CONFIG;

    const dev = new VirtioDevice(options.name, options.pci, {
      io,
      features,
      configOffset,
      rx,
      tx,
      ctrl,
      rxPool,
    });
    dev.setPromisc(true);
    if (irqVector) dev.interrupts = new VirtioInterrupts(rx, irqVector);
    return dev;
  }

  /**
   * Receives up to `count` packets. For each used descriptor: hand its buffer
   * to the caller, put a fresh buffer into the same descriptor and make it
   * available again (section 5.1.6.4). One notification per batch at most.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw new IxyError(`Virtio has one RX queue; got queue ${queueId}.`);
    const vq = this.#rx;
    const mask = vq.size - 1;
    const usedIdx = vq.deviceUsedIdx();
    let n = 0;
    while (n < count && vq.lastUsedIdx !== usedIdx) {
      const slot = vq.lastUsedIdx & mask;
      const id = vq.usedRing[2 * slot];
      const len = vq.usedRing[2 * slot + 1];
      const fresh = this.#rxPool.alloc();
      if (fresh === undefined) break; // app holds all buffers: retry next call
      const buf = vq.bufs[id]!;
      vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
      postRxBuffer(vq, id, fresh);
      vq.pushAvailable(id);
      const size = len - VIRTIO_NET_HDR_SIZE;
      if (size <= 0 || size > buf.data.length) {
        // Impossible length from the device: drop, never hand out garbage.
        this.#rxErrors++;
        this.#rxPool.free(buf);
        continue;
      }
      buf.size = size;
      this.#rxBytes += size;
      bufs[n++] = buf;
    }
    if (vq.availIdx !== Atomics.load(vq.avail, 1)) {
      vq.publishAvailable();
      if (!vq.deviceSuppressesNotify()) this.#io.write16(VIRTIO_PCI.QUEUE_NOTIFY, vq.index);
    }
    this.#rxPackets += n;
    return n;
  }

  /**
   * Sends `bufs[0..count)`: first reclaims descriptors the device has finished
   * with (freeing their buffers), then fills one descriptor per packet
   * (section 5.1.6.2) and notifies the device once.
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw new IxyError(`Virtio has one TX queue; got queue ${queueId}.`);
    const vq = this.#tx;
    this.#reclaimTx();
    let n = 0;
    while (n < count && vq.freeDescriptors > 0) {
      const buf = bufs[n++];
      // An all-zero virtio_net_hdr: no checksum offload, no segmentation.
      // A loop of ten byte stores, not headroom.fill(0, 30): fill is a
      // builtin call that cost ~40 ns per packet (docs/performance.md, change 2).
      const h = buf.headroom;
      for (let i = NET_HDR_IN_HEADROOM; i < PKT_BUF_HEADROOM; i++) h[i] = 0;
      const id = vq.takeDescriptor();
      vq.setDescriptor(id, buf.physAddr + NET_HDR_OFFSET, buf.size + VIRTIO_NET_HDR_SIZE, 0);
      vq.bufs[id] = buf;
      vq.pushAvailable(id);
      this.#txBytes += buf.size;
    }
    if (n > 0) {
      vq.publishAvailable();
      if (!vq.deviceSuppressesNotify()) this.#io.write16(VIRTIO_PCI.QUEUE_NOTIFY, vq.index);
    }
    this.#txPackets += n;
    return n;
  }

  /** Frees the buffers of all descriptors the device has marked used. */
  #reclaimTx(): void {
    const vq = this.#tx;
    const mask = vq.size - 1;
    const usedIdx = vq.deviceUsedIdx();
    while (vq.lastUsedIdx !== usedIdx) {
      const id = vq.usedRing[2 * (vq.lastUsedIdx & mask)];
      const buf = vq.bufs[id]!;
      buf.pool.free(buf);
      vq.bufs[id] = undefined;
      vq.releaseDescriptor(id);
      vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
    }
  }

  /** Adds the software counters since the last call to `stats`. */
  readStats(stats: DeviceStats): void {
    stats.rxPackets += this.#rxPackets;
    stats.rxBytes += this.#rxBytes;
    stats.txPackets += this.#txPackets;
    stats.txBytes += this.#txBytes;
    stats.rxErrors += this.#rxErrors;
    this.#rxPackets =
      this.#rxBytes =
      this.#txPackets =
      this.#txBytes =
      this.#rxErrors =
        0;
  }

  /**
   * Sends VIRTIO_NET_CTRL_RX_PROMISC over the control queue (section
   * 5.1.6.5.1): three chained descriptors — the command header {class, cmd}
   * and its one-byte argument for the device to read, then one byte the
   * device writes its answer into — and waits for the answer.
   */
  setPromisc(enabled: boolean): void {
    const vq = this.#ctrl;
    const base = vq.extraOffset;
    const bytes = new Uint8Array(vq.memory.buffer, base, 4);
    bytes[0] = VIRTIO_NET_CTRL.RX;
    bytes[1] = VIRTIO_NET_CTRL.RX_PROMISC;
    bytes[2] = enabled ? 1 : 0;
    bytes[3] = 0xff; // overwritten by the device
    const phys = vq.memory.physAddr(base);
    // Descriptors 0-2, always the same: the queue carries one command at a time.
    vq.setDescriptor(0, phys, 2, VRING_DESC_F.NEXT, 1);
    vq.setDescriptor(1, phys + 2, 1, VRING_DESC_F.NEXT, 2);
    vq.setDescriptor(2, phys + 3, 1, VRING_DESC_F.WRITE);
    vq.pushAvailable(0);
    vq.publishAvailable();
    this.#io.write16(VIRTIO_PCI.QUEUE_NOTIFY, vq.index);
    const deadline = performance.now() + 2000;
    while (vq.deviceUsedIdx() === vq.lastUsedIdx) {
      if (performance.now() > deadline) {
        throw new IxyError(`Virtio NIC ${this.pciAddress} did not answer a control command.`);
      }
      sleepMicros(100);
    }
    vq.lastUsedIdx = (vq.lastUsedIdx + 1) & 0xffff;
    if (Atomics.load(bytes, 3) !== VIRTIO_NET_CTRL.OK) {
      throw new IxyError(
        `Virtio NIC ${this.pciAddress} rejected promiscuous mode ${enabled ? "on" : "off"}.`,
      );
    }
  }

  /**
   * Virtio has no link speed; we report a nominal 1000 Mbit/s while the link
   * is up (config status field, section 5.1.4), as ixy does.
   */
  getLinkSpeed(): number {
    if (!(this.#features & (1 << VIRTIO_NET_F.STATUS))) return 1000;
    const status = this.#io.read16(this.#configOffset + VIRTIO_NET_CONFIG.STATUS);
    return status & VIRTIO_NET_S_LINK_UP ? 1000 : 0;
  }

  /** The MAC address from the config space (section 5.1.4), if the device has one. */
  getMacAddress(): Uint8Array {
    const mac = new Uint8Array(6);
    if (this.#features & (1 << VIRTIO_NET_F.MAC)) {
      for (let i = 0; i < 6; i++) mac[i] = this.#io.read8(this.#configOffset + i);
    }
    return mac;
  }

  /** Waits up to 100 ms for queued frames to go out, then resets the device. */
  close(): void {
    const deadline = performance.now() + 100;
    while (this.#tx.deviceUsedIdx() !== this.#tx.availIdx && performance.now() < deadline) {
      sleepMicros(100);
    }
    this.#reclaimTx();
    // Writing 0 resets the device: it stops using our memory (section 2.1).
    this.#io.write8(VIRTIO_PCI.STATUS, VIRTIO_STATUS.RESET);
    this.#io.close?.();
  }
}

/** This driver sets up exactly one RX and one TX queue. */
function checkQueueCounts(name: string, options: DeviceOptions): void {
  if ((options.rxQueues ?? 1) !== 1 || (options.txQueues ?? 1) !== 1) {
    throw new IxyError(
      `Cannot set up ${options.rxQueues} RX / ${options.txQueues} TX queues on virtio NIC ` +
        `${name}: this driver supports exactly one of each.`,
    );
  }
}

/** Points receive descriptor `id` at `buf`: header slot in the headroom + data area. */
function postRxBuffer(vq: Virtqueue, id: number, buf: PktBuf): void {
  vq.setDescriptor(
    id,
    buf.physAddr + NET_HDR_OFFSET,
    buf.data.length + VIRTIO_NET_HDR_SIZE,
    VRING_DESC_F.WRITE,
  );
  vq.bufs[id] = buf;
}

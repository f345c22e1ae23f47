/**
 * The virtio-net driver, over the legacy (transitional) interface — what
 * QEMU's `virtio-net-pci` offers by default — or the modern virtio 1.x
 * interface (./modern.ts; the one whose DMA can go through an IOMMU). Read
 * {@link VirtioDevice.attachTransport} first: it follows the initialisation
 * sequence of the virtio 1.1 spec, section 3.1.1 (and 3.1.2 for legacy
 * devices), step by step; ./transport.ts says what differs between the two.
 *
 * Design, as in ixy: one receive queue, one transmit queue and the control
 * queue; we poll (optional MSI-X interrupt for an idle receive queue over
 * VFIO: ./interrupts.ts); packets travel in buffers of our
 * mempools, with the `virtio_net_hdr` (10 bytes legacy, 12 with
 * VIRTIO_F_VERSION_1) written into each buffer's headroom right in front of
 * the packet, so one descriptor covers header and packet (legacy: allowed by
 * VIRTIO_F_ANY_LAYOUT, section 2.6.4.3; modern: always, section 2.6.4).
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
  VIRTIO_F,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_CONFIG,
  VIRTIO_NET_CTRL,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_HDR_SIZE_V1,
  VIRTIO_NET_QUEUE,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_PCI_DEVICE_NET_MODERN,
  VIRTIO_STATUS,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F,
} from "./constants.ts";
import { Virtqueue, virtqueueLayout } from "./virtqueue.ts";
import type { RingDescription, RingIntrospection } from "../../src/introspect.ts";
import { VirtioInterrupts } from "./interrupts.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import {
  VirtioLegacyTransport,
  type VirtioRegisters,
  type VirtioTransport,
  type VirtioTransportKind,
} from "./transport.ts";
import { findVirtioPciCapabilities, VirtioModernTransport } from "./modern.ts";

/** Feature bit `n` as a bigint mask. */
const bit = (n: number): bigint => 1n << BigInt(n);
/** Features we cannot work without, on either transport. */
const REQUIRED_FEATURES = bit(VIRTIO_NET_F.CTRL_VQ) | bit(VIRTIO_NET_F.CTRL_RX);
/**
 * Legacy: header and packet share one descriptor only with ANY_LAYOUT
 * (section 2.6.4.3). Modern: VERSION_1 is a must (section 6.1: a driver that
 * does not accept it speaks legacy), and implies any layout (section 2.6.4) —
 * QEMU hides ANY_LAYOUT from the modern interface.
 */
const REQUIRED_BY_TRANSPORT: Record<VirtioTransportKind, bigint> = {
  legacy: bit(VIRTIO_NET_F.ANY_LAYOUT),
  modern: bit(VIRTIO_F.VERSION_1),
};
/**
 * Features we use when offered. ACCESS_PLATFORM (section 6.1): the device
 * translates our addresses through the IOMMU; a driver SHOULD accept it, and
 * QEMU routes the DMA of an `iommu_platform=on` device through the IOMMU.
 */
const OPTIONAL_FEATURES = bit(VIRTIO_NET_F.MAC) | bit(VIRTIO_NET_F.STATUS) |
  bit(VIRTIO_F.ACCESS_PLATFORM);

/** Receive buffers per receive-queue entry (the app may hold some while we refill). */
const RX_POOL_FACTOR = 4;

/** PCI capability ID of MSI-X (PCI 3.0, section 6.8.2). */
const PCI_CAP_ID_MSIX = 0x11;

/**
 * Access to the legacy virtio header (section 4.1.4.8) by byte offset and
 * width. On a real NIC this is the I/O BAR (`IoPortRegion` of src/io_port.ts
 * satisfies it); the benchmarks' "instant device" (tools/bench/) supplies its own.
 */
export type VirtioLegacyRegisters = VirtioRegisters;

/** Options of {@link VirtioDevice.attach} and {@link VirtioDevice.attachTransport}. */
export interface VirtioAttachOptions extends DeviceOptions {
  /** Name to report as {@link VirtioDevice.pciAddress}. */
  name: string;
  /** The PCI function, if there is one (kept for handing it back to the kernel). */
  pci?: PciDevice;
  /**
   * True while MSI-X is enabled: vectors are programmed (legacy: the device
   * config then starts 4 bytes later).
   */
  msixEnabled?: boolean;
  /**
   * With `interrupts: true` and MSI-X enabled: where MSI-X vector 0 arrives
   * (a VFIO eventfd); the receive queue gets vector 0 (./interrupts.ts).
   */
  interruptVector?: InterruptVector;
}

/** Options of {@link VirtioDevice.init}. */
export interface VirtioInitOptions extends DeviceOptions {
  /**
   * Which interface to speak. Default: modern for a modern-only device
   * (1af4:1041) or one without a legacy I/O BAR, legacy otherwise.
   */
  transport?: "legacy" | "modern";
}

/** A virtio-net NIC driven through its legacy or modern PCI interface. */
export class VirtioDevice implements IxyDevice, RingIntrospection {
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
  /** The PCI interface in use: `"legacy"` or `"modern"`. */
  readonly transportKind: "legacy" | "modern";
  /** The feature bits both sides agreed on (section 2.2). */
  readonly features: bigint;

  #transport: VirtioTransport;
  /** Bytes of `virtio_net_hdr` in front of each packet: 10 (legacy) or 12 (VERSION_1). */
  readonly #hdrSize: number;
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
      transport: VirtioTransport;
      features: bigint;
      hdrSize: number;
      rx: Virtqueue;
      tx: Virtqueue;
      ctrl: Virtqueue;
      rxPool: Mempool;
    },
  ) {
    this.pciAddress = name;
    this.pci = pci;
    this.#transport = parts.transport;
    this.transportKind = parts.transport.kind;
    this.features = parts.features;
    this.#hdrSize = parts.hdrSize;
    this.#rx = parts.rx;
    this.#tx = parts.tx;
    this.#ctrl = parts.ctrl;
    this.#rxPool = parts.rxPool;
  }

  /**
   * Brings up the NIC at `pci` (already unbound from the kernel, with bus
   * mastering enabled), allocating rings and buffers from `dma`. Picks the
   * transport as {@link VirtioInitOptions.transport} says: legacy through I/O
   * BAR0 (sysfs `resource0`), modern through the memory BARs its
   * capabilities name (sysfs `resource<N>`, mmap).
   */
  static init(pci: PciDevice, dma: DmaAllocator, options: VirtioInitOptions = {}): VirtioDevice {
    checkQueueCounts(pci.address, options);
    const msix = pci.findCapability(PCI_CAP_ID_MSIX);
    const msixEnabled = msix !== 0 && (pci.readConfig(msix + 2, 2) & 0x8000) !== 0;
    const kind = options.transport ??
      (pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN || pci.barKind(0) !== "io"
        ? "modern"
        : "legacy");
    const attachOptions = { ...options, name: pci.address, pci, msixEnabled };
    if (kind === "legacy") {
      if (pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN) {
        throw new IxyError(
          `Cannot drive ${pci.address} with the legacy transport: it is a modern-only virtio ` +
            `NIC (${pci.ids}, no legacy I/O BAR). Leave out transport: "legacy".`,
        );
      }
      return VirtioDevice.attach(pci.openIoBar(0), dma, attachOptions);
    }
    const capabilities = findVirtioPciCapabilities((o, size) => pci.readConfig(o, size));
    if (capabilities === undefined) {
      throw new IxyError(
        `Cannot drive ${pci.address} (${pci.ids}) with the modern virtio transport: its config ` +
          `space has no virtio structure capabilities (virtio 1.1 section 4.1.4), so it is a ` +
          `legacy-only device (QEMU: disable-modern=on). Use transport: "legacy".`,
      );
    }
    const transport = VirtioModernTransport.open({
      name: pci.address,
      capabilities,
      mapBar: (n) => pci.mapMemoryBar(n),
    });
    return VirtioDevice.attachTransport(transport, dma, attachOptions);
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
    const transport = new VirtioLegacyTransport(io, { msixEnabled: options.msixEnabled });
    return VirtioDevice.attachTransport(transport, dma, options);
  }

  /**
   * Brings up a virtio-net device through `transport` (legacy or modern,
   * ./transport.ts): the initialisation sequence of section 3.1.1.
   */
  static attachTransport(
    transport: VirtioTransport,
    dma: DmaAllocator,
    options: VirtioAttachOptions,
  ): VirtioDevice {
    checkQueueCounts(options.name, options);
    const name = options.name;
    const modern = transport.kind === "modern";
    let bits = 0;
    const status = (add: number): void => {
      bits |= add;
      transport.writeStatus(bits);
    };

    // Section 3.1.1, step 1: reset the device by writing 0 to the status
    // register. The reset is done when the register reads 0 (section
    // 4.1.4.3.2 for modern, 4.1.4.8 / Linux for legacy).
    transport.writeStatus(VIRTIO_STATUS.RESET);
    for (let i = 0; transport.readStatus() !== VIRTIO_STATUS.RESET; i++) {
      if (i > 10_000) {
        throw new IxyError(
          `Virtio NIC ${name} does not leave reset: its status stays ` +
            `0x${transport.readStatus().toString(16)} after 1 s. Is the device alive? ` +
            `Check dmesg, or restart the VM.`,
        );
      }
      sleepMicros(100);
    }
    // Steps 2 and 3: we have noticed the device (ACKNOWLEDGE) and know how to
    // drive it (DRIVER). Status bits accumulate.
    status(VIRTIO_STATUS.ACKNOWLEDGE);
    status(VIRTIO_STATUS.DRIVER);

    // Step 4: feature negotiation. The device offers bits (legacy: 0-31
    // only; modern: 64 through the select registers); we accept the subset
    // we know.
    const offered = transport.deviceFeatures();
    const required = REQUIRED_FEATURES | REQUIRED_BY_TRANSPORT[transport.kind];
    if ((offered & required) !== required) {
      transport.writeStatus(bits | VIRTIO_STATUS.FAILED);
      const missing = required & ~offered;
      throw new IxyError(
        `Cannot use virtio NIC ${name} (${transport.kind} interface): it lacks required ` +
          `features (mask 0x${missing.toString(16)} of CTRL_VQ, CTRL_RX, ` +
          `${modern ? "VERSION_1" : "ANY_LAYOUT"}). Give QEMU's virtio-net-pci its defaults ` +
          `(ctrl_vq=on, ctrl_rx=on).`,
      );
    }
    const features = offered & (required | OPTIONAL_FEATURES);
    transport.writeDriverFeatures(features);
    if (modern) {
      // Steps 5 and 6 (virtio 1.x only; legacy devices have no FEATURES_OK,
      // section 3.1.2): set FEATURES_OK and read it back — if it is gone, the
      // device does not accept our subset.
      status(VIRTIO_STATUS.FEATURES_OK);
      if (!(transport.readStatus() & VIRTIO_STATUS.FEATURES_OK)) {
        transport.writeStatus(bits | VIRTIO_STATUS.FAILED);
        throw new IxyError(
          `Virtio NIC ${name} refused our features (0x${features.toString(16)}): FEATURES_OK ` +
            `did not stick (virtio 1.1 section 3.1.1 step 6). Report the device's model ` +
            `and QEMU options; transport: "legacy" may work if the device has one.`,
        );
      }
    }

    // MSI-X vectors (section 4.1.5.1.2), while MSI-X is enabled: the receive
    // queue's interrupt on vector 0 if asked for, nothing else interrupts.
    const irqVector = options.msixEnabled && options.interrupts
      ? options.interruptVector
      : undefined;
    if (options.msixEnabled) transport.setConfigVector(VIRTIO_MSI_NO_VECTOR);

    // Step 7 (done before DRIVER_OK): set up the virtqueues (section 4.1.5.1.3;
    // 4.1.4.8 for legacy): select a queue, read its size, allocate the rings
    // and hand their addresses to the device (./transport.ts, ./modern.ts).
    const setupQueue = (index: number, extraBytes = 0): Virtqueue => {
      const size = transport.queueSize(index);
      if (size === 0) {
        throw new IxyError(
          `Virtio NIC ${name} has no queue ${index} (size 0). A virtio-net device has ` +
            `receive, transmit and control queues (section 5.1.2); check ctrl_vq=on.`,
        );
      }
      const vq = new Virtqueue(dma, { index, size, extraBytes });
      const want = options.msixEnabled
        ? (irqVector && index === VIRTIO_NET_QUEUE.RX ? 0 : VIRTIO_MSI_NO_VECTOR)
        : undefined;
      // The queue's vector, read back: NO_VECTOR means the device refused it.
      const got = transport.activateQueue(vq, want);
      if (got !== want) {
        transport.writeStatus(bits | VIRTIO_STATUS.FAILED);
        throw new IxyError(
          `Virtio NIC ${name} refused MSI-X vector ${want} for queue ${index}. ` +
            `Run without --interrupts.`,
        );
      }
      // We poll: ask the device not to interrupt us (section 2.6.7).
      vq.avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
      return vq;
    };
    const rx = setupQueue(VIRTIO_NET_QUEUE.RX);
    const tx = setupQueue(VIRTIO_NET_QUEUE.TX);
    const ctrl = setupQueue(VIRTIO_NET_QUEUE.CTRL, 4096); // + space for one command

    // With VERSION_1 the header always has num_buffers (section 5.1.6).
    const hdrSize = features & bit(VIRTIO_F.VERSION_1)
      ? VIRTIO_NET_HDR_SIZE_V1
      : VIRTIO_NET_HDR_SIZE;
    // Fill the receive queue with empty buffers (section 5.1.6.3): each
    // descriptor covers the net header in the headroom plus the data area.
    const rxPool = Mempool.create(dma, { numEntries: rx.size * RX_POOL_FACTOR });
    for (let i = 0; i < rx.size; i++) {
      const buf = rxPool.alloc()!;
      const id = rx.takeDescriptor();
      postRxBuffer(rx, id, buf, hdrSize);
      rx.pushAvailable(id);
    }
    rx.publishAvailable();

    // Step 8: the driver is ready.
    status(VIRTIO_STATUS.DRIVER_OK);
    const now = transport.readStatus();
    if (now & (VIRTIO_STATUS.FAILED | VIRTIO_STATUS.DEVICE_NEEDS_RESET)) {
      throw new IxyError(
        `Virtio NIC ${name} refused our setup (status 0x${now.toString(16)}). ` +
          `Check the guest's kernel log (dmesg) and QEMU's messages.`,
      );
    }
    // Tell the device the receive queue has buffers (section 2.6.13.4).
    transport.notify(VIRTIO_NET_QUEUE.RX);

    const dev = new VirtioDevice(options.name, options.pci, {
      transport,
      features,
      hdrSize,
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
    const hdrSize = this.#hdrSize;
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
      postRxBuffer(vq, id, fresh, hdrSize);
      vq.pushAvailable(id);
      const size = len - hdrSize;
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
      if (!vq.deviceSuppressesNotify()) this.#transport.notify(vq.index);
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
    const hdrSize = this.#hdrSize;
    const hdrOffset = PKT_BUF_HEADER - hdrSize; // from the start of the buffer
    const hdrInHeadroom = PKT_BUF_HEADROOM - hdrSize;
    let n = 0;
    while (n < count && vq.freeDescriptors > 0) {
      const buf = bufs[n++];
      // An all-zero virtio_net_hdr: no checksum offload, no segmentation.
      // A loop of 10 or 12 byte stores, not headroom.fill(0, 30): fill is a
      // builtin call that cost ~40 ns per packet (docs/performance.md, change 2).
      const h = buf.headroom;
      for (let i = hdrInHeadroom; i < PKT_BUF_HEADROOM; i++) h[i] = 0;
      const id = vq.takeDescriptor();
      vq.setDescriptor(id, buf.physAddr + hdrOffset, buf.size + hdrSize, 0);
      vq.bufs[id] = buf;
      vq.pushAvailable(id);
      this.#txBytes += buf.size;
    }
    if (n > 0) {
      vq.publishAvailable();
      if (!vq.deviceSuppressesNotify()) this.#transport.notify(vq.index);
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

  /**
   * Describes the receive and transmit virtqueues for observers
   * (tools/view/): memory, layout, and our used index (lastUsedIdx), which
   * lives in a field. Not on the hot path: rxBatch/txBatch know nothing of it.
   */
  describeRings(): RingDescription[] {
    return [this.#rx, this.#tx].map((vq): RingDescription => {
      const layout = virtqueueLayout(vq.size);
      return {
        kind: vq === this.#rx ? "virtio-rx" : "virtio-tx",
        queue: vq.index,
        size: vq.size,
        memory: vq.memory.buffer,
        byteLength: layout.totalBytes,
        physAddr: vq.memory.physAddr(0),
        virtqueue: { availOffset: layout.availOffset, usedOffset: layout.usedOffset },
        pool: vq === this.#rx ? this.#rxPool : undefined,
        driverIndex: () => vq.lastUsedIdx,
      };
    });
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
    this.#transport.notify(vq.index);
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
    if (!(this.features & bit(VIRTIO_NET_F.STATUS))) return 1000;
    const status = this.#transport.readConfig16(VIRTIO_NET_CONFIG.STATUS);
    return status & VIRTIO_NET_S_LINK_UP ? 1000 : 0;
  }

  /**
   * The MAC address from the config space (section 5.1.4), if the device has
   * one; read until config_generation is the same before and after (section
   * 2.4.1: the six bytes are not read atomically).
   */
  getMacAddress(): Uint8Array {
    const mac = new Uint8Array(6);
    if (!(this.features & bit(VIRTIO_NET_F.MAC))) return mac;
    const t = this.#transport;
    let before: number;
    do {
      before = t.configGeneration();
      for (let i = 0; i < 6; i++) mac[i] = t.readConfig8(VIRTIO_NET_CONFIG.MAC + i);
    } while (t.configGeneration() !== before);
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
    this.#transport.writeStatus(VIRTIO_STATUS.RESET);
    this.#transport.close();
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

/**
 * Points receive descriptor `id` at `buf`: header slot (`hdrSize` bytes) in
 * the headroom + data area.
 */
function postRxBuffer(vq: Virtqueue, id: number, buf: PktBuf, hdrSize: number): void {
  vq.setDescriptor(
    id,
    buf.physAddr + PKT_BUF_HEADER - hdrSize,
    buf.data.length + hdrSize,
    VRING_DESC_F.WRITE,
  );
  vq.bufs[id] = buf;
}

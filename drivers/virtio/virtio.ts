/**
 * The virtio-net driver, over the legacy (transitional) interface — what
 * QEMU's `virtio-net-pci` offers by default — or the modern virtio 1.x
 * interface (./modern.ts; the one whose DMA can go through an IOMMU). Read
 * {@link VirtioDevice.open} first: it follows the initialisation sequence of
 * the virtio 1.1 spec, section 3.1.1 (and 3.1.2 for legacy devices), one
 * method per step; ./transport.ts says what differs between the two.
 *
 * Design, as in ixy: one receive queue, one transmit queue and the control
 * queue; we poll (optional MSI-X interrupt for an idle receive queue over
 * VFIO: ./interrupts.ts); packets travel in buffers of our
 * mempools, with the `virtio_net_hdr` (10 bytes legacy, 12 with
 * VIRTIO_F_VERSION_1) written into each buffer's headroom right in front of
 * the packet, so one descriptor covers header and packet (legacy: allowed by
 * VIRTIO_F_ANY_LAYOUT, section 2.6.4.3; modern: always, section 2.6.4).
 *
 * The packet path — the queues — is in ./rx.ts and ./tx.ts, as the 82599's
 * (drivers/ixgbe/); this file brings the device up, sets promiscuous mode
 * and stops it.
 *
 * Unlike the C ixy we do not require checksum offload (VIRTIO_NET_F_CSUM):
 * QEMU's hub and socket back ends do not offer it, and we never need it.
 *
 * @module
 */

import type { DeviceOptions, IxyDevice, PciFunction } from "../../src/device.ts";
import type { DmaAllocator } from "../../src/memory.ts";
import type { PciDevice } from "../../src/pci.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import type { DeviceStats } from "../../src/stats.ts";
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
import {
  postRxBuffer,
  RX_BYTES,
  RX_DEVICE_ERRORS,
  RX_ERRORS,
  RX_PACKETS,
  rxBatch,
  RxQueue,
} from "./rx.ts";
import { reclaimTx, TX_BYTES, TX_DEVICE_ERRORS, TX_PACKETS, txBatch, TxQueue } from "./tx.ts";
import type { RingDescription, RingIntrospection } from "../../src/introspect.ts";
import { VirtioInterrupts } from "./interrupts.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import {
  VirtioLegacyTransport,
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

/**
 * Options of {@link VirtioDevice.open} on top of the common
 * {@link DeviceOptions}.
 */
export interface VirtioOptions extends DeviceOptions {
  /**
   * Which interface to speak. Default: over VFIO modern when the device has
   * it (only a modern device can offer VIRTIO_F_ACCESS_PLATFORM, i.e. DMA
   * through the IOMMU, section 6.1); otherwise modern for a modern-only
   * device (1af4:1041) or one without a legacy I/O BAR, legacy for the rest.
   */
  transport?: "legacy" | "modern";
}

/**
 * Decides the transport of `pci` once and opens it: legacy through I/O BAR0,
 * modern through the memory BARs its virtio capabilities name (section
 * 4.1.4). See {@link VirtioOptions.transport} for the default.
 */
function openTransport(pci: PciFunction, kind?: VirtioTransportKind): VirtioTransport {
  const modernOnly = pci.deviceId === VIRTIO_PCI_DEVICE_NET_MODERN;
  const capabilities = kind === "legacy"
    ? undefined
    : findVirtioPciCapabilities((offset, size) => pci.readConfig(offset, size));
  const modern = kind === "modern" || modernOnly ||
    (pci.via === "vfio" ? capabilities !== undefined : pci.barKind(0) !== "io");
  if (!modern) return new VirtioLegacyTransport(pci.openIoBar(0), { msixEnabled: pci.msixEnabled });
  if (kind === "legacy") {
    throw new IxyError(
      `Cannot drive ${pci.address} with the legacy transport: it is a modern-only virtio ` +
        `NIC (${pci.ids}, no legacy I/O BAR). Leave out transport: "legacy".`,
    );
  }
  if (capabilities === undefined) {
    throw new IxyError(
      `Cannot drive ${pci.address} (${pci.ids}) with the modern virtio transport: its config ` +
        `space has no virtio structure capabilities (virtio 1.1 section 4.1.4), so it is a ` +
        `legacy-only device (QEMU: disable-modern=on). Leave out transport: "modern".`,
    );
  }
  return VirtioModernTransport.open({
    name: pci.address,
    capabilities,
    mapBar: (n) => pci.mapMemoryBar(n),
  });
}

/**
 * Why this device's DMA bypasses an IOMMU, or undefined if it goes through
 * it: only with VIRTIO_F_ACCESS_PLATFORM (bit 33, section 6.1; QEMU:
 * `iommu_platform=on`), which the legacy interface cannot even express;
 * without it "the device will always use physical addresses".
 */
function iommuBypass(transport: VirtioTransport, offered: bigint): string | undefined {
  if (transport.kind === "legacy") {
    return `it is a legacy virtio device: it cannot use the IOMMU (virtio 1.1 section 6.1: ` +
      `without VIRTIO_F_ACCESS_PLATFORM, which the legacy interface cannot offer, the ` +
      `device uses physical addresses)`;
  }
  if (offered & bit(VIRTIO_F.ACCESS_PLATFORM)) return undefined;
  return `this modern virtio device does not offer VIRTIO_F_ACCESS_PLATFORM (virtio 1.1 ` +
    `section 6.1), so its DMA bypasses the IOMMU and uses physical addresses`;
}

/** A virtio-net NIC driven through its legacy or modern PCI interface. */
export class VirtioDevice implements IxyDevice, RingIntrospection {
  /** Always `"virtio"`. */
  readonly driverName = "virtio";
  /** PCI address of the NIC. */
  readonly pciAddress: string;
  /** The sysfs PCI function (for handing it back to the kernel driver); undefined over VFIO. */
  readonly pci?: PciDevice;
  /** One receive queue (multi-queue virtio-net is not supported, as in ixy). */
  readonly numRxQueues = 1;
  /** One transmit queue. */
  readonly numTxQueues = 1;
  /** The receive queue's MSI-X interrupt, with `interrupts: true` over VFIO. */
  interrupts?: VirtioInterrupts;
  /** The PCI interface in use: `"legacy"` or `"modern"`. */
  readonly transportKind: "legacy" | "modern";

  #transport: VirtioTransport;
  /** Status bits set so far (section 2.1); they accumulate during bring-up. */
  #status = 0;
  /** The feature bits both sides agreed on (section 2.2). */
  #features = 0n;
  /** Bytes of `virtio_net_hdr` in front of each packet: 10 (legacy) or 12 (VERSION_1). */
  #hdrSize = VIRTIO_NET_HDR_SIZE;
  #rx!: RxQueue;
  #tx!: TxQueue;
  #ctrl!: Virtqueue;
  // The PCI function from ixyInit: close() turns its bus mastering off.
  #function: PciFunction;
  #closed = false;

  private constructor(transport: VirtioTransport, pci: PciFunction) {
    this.pciAddress = pci.address;
    this.pci = pci.pci;
    this.#function = pci;
    this.#transport = transport;
    this.transportKind = transport.kind;
  }

  /**
   * Brings up the virtio-net NIC at `pci` (identified, taken from the kernel,
   * bus master on; drivers/mod.ts): decides the transport once
   * ({@link VirtioOptions.transport}), asks for DMA memory that matches
   * whether the device's DMA goes through the IOMMU — before touching the
   * device — and then follows the initialisation sequence of section 3.1.1
   * (3.1.2 for legacy devices) step by step, one method per step.
   */
  static open(pci: PciFunction, options: VirtioOptions = {}): VirtioDevice {
    checkQueueCounts(pci.address, options);
    const transport = openTransport(pci, options.transport);
    const dma = pci.dmaAllocator(iommuBypass(transport, transport.deviceFeatures()));
    const dev = new VirtioDevice(transport, pci);
    const irqVector = pci.msixEnabled && options.interrupts ? pci.interruptVectors?.[0] : undefined;
    dev.#reset(); // step 1
    dev.#acknowledge(); // steps 2 and 3
    dev.#negotiateFeatures(); // steps 4 to 6
    dev.#setUpQueues(dma, pci.msixEnabled, irqVector); // step 7
    dev.#fillRxQueue(); // step 7, device-specific: receive buffers
    dev.#driverOk(); // step 8
    dev.setPromisc(true);
    if (irqVector) dev.interrupts = new VirtioInterrupts(dev.#rx, irqVector);
    return dev;
  }

  /**
   * Why the DMA of the virtio NIC at `pci` would bypass the IOMMU (see
   * {@link PciFunction.dmaAllocator}), or undefined; reads the offered
   * features through the transport {@link open} would pick.
   */
  static iommuBypass(pci: PciFunction, options: VirtioOptions = {}): string | undefined {
    const transport = openTransport(pci, options.transport);
    try {
      return iommuBypass(transport, transport.deviceFeatures());
    } finally {
      transport.close();
    }
  }

  /** The feature bits both sides agreed on (section 2.2). */
  get features(): bigint {
    return this.#features;
  }

  /** Adds `bit` to the device status; status bits accumulate (section 3.1.1). */
  #addStatus(bit: number): void {
    this.#status |= bit;
    this.#transport.writeStatus(this.#status);
  }

  /** Tells the device we gave up (FAILED, section 2.1.1) and throws `error`. */
  #fail(error: IxyError): never {
    this.#transport.writeStatus(this.#status | VIRTIO_STATUS.FAILED);
    throw error;
  }

  /**
   * Step 1: reset the device by writing 0 to the status register. The reset
   * is done when the register reads 0 (section 4.1.4.3.2 for modern,
   * 4.1.4.8 / Linux for legacy).
   */
  #reset(): void {
    const t = this.#transport;
    t.writeStatus(VIRTIO_STATUS.RESET);
    for (let i = 0; t.readStatus() !== VIRTIO_STATUS.RESET; i++) {
      if (i > 10_000) {
        throw new IxyError(
          `Virtio NIC ${this.pciAddress} does not leave reset: its status stays ` +
            `0x${t.readStatus().toString(16)} after 1 s. Is the device alive? ` +
            `Check dmesg, or restart the VM.`,
        );
      }
      sleepMicros(100);
    }
  }

  /** Steps 2 and 3: we have noticed the device (ACKNOWLEDGE) and know how to drive it (DRIVER). */
  #acknowledge(): void {
    this.#addStatus(VIRTIO_STATUS.ACKNOWLEDGE);
    this.#addStatus(VIRTIO_STATUS.DRIVER);
  }

  /**
   * Step 4: feature negotiation. The device offers bits (legacy: 0-31 only;
   * modern: 64 through the select registers); we accept the subset we know.
   * Steps 5 and 6 (virtio 1.x only; legacy devices have no FEATURES_OK,
   * section 3.1.2): set FEATURES_OK and read it back — if it is gone, the
   * device does not accept our subset.
   */
  #negotiateFeatures(): void {
    const t = this.#transport;
    const name = this.pciAddress;
    const offered = t.deviceFeatures();
    const required = REQUIRED_FEATURES | REQUIRED_BY_TRANSPORT[t.kind];
    if ((offered & required) !== required) {
      const missing = required & ~offered;
      this.#fail(
        new IxyError(
          `Cannot use virtio NIC ${name} (${t.kind} interface): it lacks required ` +
            `features (mask 0x${missing.toString(16)} of CTRL_VQ, CTRL_RX, ` +
            `${t.kind === "modern" ? "VERSION_1" : "ANY_LAYOUT"}). Give QEMU's virtio-net-pci ` +
            `its defaults (ctrl_vq=on, ctrl_rx=on).`,
        ),
      );
    }
    const features = offered & (required | OPTIONAL_FEATURES);
    t.writeDriverFeatures(features);
    this.#features = features;
    // With VERSION_1 the header always has num_buffers (section 5.1.6).
    this.#hdrSize = features & bit(VIRTIO_F.VERSION_1)
      ? VIRTIO_NET_HDR_SIZE_V1
      : VIRTIO_NET_HDR_SIZE;
    if (t.kind === "legacy") return;
    this.#addStatus(VIRTIO_STATUS.FEATURES_OK);
    if (!(t.readStatus() & VIRTIO_STATUS.FEATURES_OK)) {
      this.#fail(
        new IxyError(
          `Virtio NIC ${name} refused our features (0x${features.toString(16)}): FEATURES_OK ` +
            `did not stick (virtio 1.1 section 3.1.1 step 6). Report the device's model ` +
            `and QEMU options; transport: "legacy" may work if the device has one.`,
        ),
      );
    }
  }

  /**
   * Step 7, device-specific setup: the virtqueues (section 4.1.5.1.3;
   * 4.1.4.8 for legacy) — select a queue, read its size, allocate the rings
   * and hand their addresses to the device (./transport.ts, ./modern.ts).
   * While MSI-X is enabled, vectors are programmed too (section 4.1.5.1.2):
   * the receive queue's interrupt on vector 0 if asked for, nothing else
   * interrupts. The receive queue gets its mempool here, sized by the
   * queue (filled in #fillRxQueue).
   */
  #setUpQueues(dma: DmaAllocator, msixEnabled: boolean, irqVector?: InterruptVector): void {
    const t = this.#transport;
    if (msixEnabled) t.setConfigVector(VIRTIO_MSI_NO_VECTOR);
    const hdrSize = this.#hdrSize;
    const setUpQueue = <Q extends Virtqueue>(index: number, make: (size: number) => Q): Q => {
      const size = t.queueSize(index);
      if (size === 0) {
        throw new IxyError(
          `Virtio NIC ${this.pciAddress} has no queue ${index} (size 0). A virtio-net device ` +
            `has receive, transmit and control queues (section 5.1.2); check ctrl_vq=on.`,
        );
      }
      const vq = make(size);
      const want = msixEnabled
        ? (irqVector && index === VIRTIO_NET_QUEUE.RX ? 0 : VIRTIO_MSI_NO_VECTOR)
        : undefined;
      // The queue's vector, read back: NO_VECTOR means the device refused it.
      const got = t.activateQueue(vq, want);
      if (got !== want) {
        this.#fail(
          new IxyError(
            `Virtio NIC ${this.pciAddress} refused MSI-X vector ${want} for queue ${index}. ` +
              `Run without --interrupts.`,
          ),
        );
      }
      // We poll: ask the device not to interrupt us (section 2.6.7).
      vq.avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
      return vq;
    };
    const { RX, TX, CTRL } = VIRTIO_NET_QUEUE;
    this.#rx = setUpQueue(RX, (size) => {
      const pool = Mempool.create(dma, { numEntries: size * RX_POOL_FACTOR });
      return new RxQueue(dma, { index: RX, size }, pool, hdrSize, t);
    });
    this.#tx = setUpQueue(TX, (size) => new TxQueue(dma, { index: TX, size }, hdrSize, t));
    // + space for one command after the rings
    this.#ctrl = setUpQueue(
      CTRL,
      (size) => new Virtqueue(dma, { index: CTRL, size, extraBytes: 4096 }),
    );
  }

  /**
   * Step 7, continued: fill the receive queue with empty buffers (section
   * 5.1.6.3) by {@link postRxBuffer} of ./rx.ts; each descriptor covers the
   * net header in the headroom plus the data area.
   */
  #fillRxQueue(): void {
    const rx = this.#rx;
    for (let i = 0; i < rx.size; i++) {
      const id = rx.takeDescriptor();
      postRxBuffer(rx, id, rx.pool.alloc()!, rx.hdrSize);
      rx.pushAvailable(id);
    }
    rx.publishAvailable();
  }

  /**
   * Step 8: the driver is ready (DRIVER_OK). Then tell the device that the
   * receive queue has buffers (section 2.6.13.4).
   */
  #driverOk(): void {
    const t = this.#transport;
    this.#addStatus(VIRTIO_STATUS.DRIVER_OK);
    const now = t.readStatus();
    if (now & (VIRTIO_STATUS.FAILED | VIRTIO_STATUS.DEVICE_NEEDS_RESET)) {
      throw new IxyError(
        `Virtio NIC ${this.pciAddress} refused our setup (status 0x${now.toString(16)}). ` +
          `Check the guest's kernel log (dmesg) and QEMU's messages.`,
      );
    }
    t.notify(VIRTIO_NET_QUEUE.RX);
  }

  /**
   * Receives up to `count` packets: {@link rxBatch} of ./rx.ts on the
   * receive queue (section 5.1.6.4). Impossible used entries are counted in
   * `deviceErrors`, impossible lengths in `rxErrors`, and skipped there.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw new IxyError(`Virtio has one RX queue; got queue ${queueId}.`);
    return rxBatch(this.#rx, bufs, count);
  }

  /**
   * Sends `bufs[0..count)`: {@link txBatch} of ./tx.ts on the transmit queue
   * (section 5.1.6.2); returns how many it took.
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number {
    if (queueId !== 0) throw new IxyError(`Virtio has one TX queue; got queue ${queueId}.`);
    return txBatch(this.#tx, bufs, count);
  }

  /** The receive mempool (for tests and statistics); virtio has one RX queue, 0. */
  rxMempool(queueId = 0): Mempool {
    if (queueId !== 0) throw new IxyError(`Virtio has one RX queue; got queue ${queueId}.`);
    return this.#rx.pool;
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
        pool: vq === this.#rx ? this.#rx.pool : undefined,
        driverIndex: () => vq.lastUsedIdx,
      };
    });
  }

  /** Adds the software counters since the last call to `stats`. */
  readStats(stats: DeviceStats): void {
    const rx = this.#rx.counters;
    const tx = this.#tx.counters;
    stats.rxPackets += rx[RX_PACKETS];
    stats.rxBytes += rx[RX_BYTES];
    stats.txPackets += tx[TX_PACKETS];
    stats.txBytes += tx[TX_BYTES];
    stats.rxErrors += rx[RX_ERRORS];
    stats.deviceErrors += rx[RX_DEVICE_ERRORS] + tx[TX_DEVICE_ERRORS];
    rx.fill(0);
    tx.fill(0);
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

  /**
   * Waits up to 100 ms for queued frames to go out, then resets the device
   * and clears its Bus Master Enable. A second call does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const deadline = performance.now() + 100;
    const tx = this.#tx;
    while (tx.deviceUsedIdx() !== tx.availIdx && performance.now() < deadline) sleepMicros(100);
    reclaimTx(this.#tx);
    // Writing 0 resets the device: it stops using our memory (section 2.1).
    this.#transport.writeStatus(VIRTIO_STATUS.RESET);
    this.#transport.close();
    // Bus Master Enable off (PCI 3.0, 6.2.2): no DMA, even from a device that ignored the reset.
    this.#function.disableBusMastering();
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

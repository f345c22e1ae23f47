/**
 * How the virtio-net driver reaches a device: the "transport" (virtio 1.1,
 * section 4.1, "Virtio Over PCI Bus"). The driver (./virtio.ts) follows the
 * same initialisation sequence (section 3.1.1) on either transport and keeps
 * one ring implementation (./virtqueue.ts); only the registers differ:
 *
 * | step                    | legacy (section 4.1.4.8)          | modern (section 4.1.4)                      |
 * |-------------------------|-----------------------------------|---------------------------------------------|
 * | status, reset           | 8-bit register in the I/O BAR     | `device_status` of the common configuration |
 * | features                | bits 0-31 only                    | 64 bits through `*_feature_select`          |
 * | FEATURES_OK             | does not exist (section 3.1.2)    | required (section 3.1.1 steps 5-6)          |
 * | queue memory            | one page number (`queue_pfn`)     | three 64-bit addresses + `queue_enable`     |
 * | notify                  | `queue_notify` register           | per-queue address in the notify structure   |
 * | device config           | after the header (+4 with MSI-X)  | its own structure                           |
 *
 * This file has the interface and the legacy implementation; the modern one
 * is ./modern.ts.
 *
 * @module
 */

import type { ByteRegisters } from "../../src/device.ts";
import type { Virtqueue } from "./virtqueue.ts";
import { VIRTIO_PCI, VIRTIO_PCI_QUEUE_ADDR_SHIFT } from "./constants.ts";

/** Which virtio PCI interface a transport speaks. */
export type VirtioTransportKind = "legacy" | "modern";

/**
 * What the driver needs from a transport: status, features, queue setup,
 * notifications and the device-specific configuration. Every method except
 * {@link notify} runs only during initialisation.
 */
export interface VirtioTransport {
  /** `"legacy"` or `"modern"`. */
  readonly kind: VirtioTransportKind;
  /** Reads the device status (section 2.1). */
  readStatus(): number;
  /** Writes the device status; 0 resets the device (section 2.1). */
  writeStatus(status: number): void;
  /** All feature bits the device offers (the legacy interface has bits 0-31 only). */
  deviceFeatures(): bigint;
  /** Tells the device which feature bits the driver accepts. */
  writeDriverFeatures(features: bigint): void;
  /** Sets the MSI-X vector for configuration changes; returns what the device reads back. */
  setConfigVector(vector: number): number;
  /** The size of queue `index` as the device offers it; 0 if there is no such queue. */
  queueSize(index: number): number;
  /**
   * Hands queue `vq` (of the size {@link queueSize} reported) to the device.
   * With `vector` set, also assigns that MSI-X vector to the queue and returns
   * what the device reads back (VIRTIO_MSI_NO_VECTOR: refused); otherwise
   * returns undefined.
   */
  activateQueue(vq: Virtqueue, vector?: number): number | undefined;
  /** Tells the device that queue `index` has new available buffers (section 2.6.13.4). */
  notify(index: number): void;
  /** The configuration generation (section 2.4.1; legacy: always 0). */
  configGeneration(): number;
  /** Reads one byte of the device-specific configuration. */
  readConfig8(offset: number): number;
  /** Reads a 16-bit field of the device-specific configuration. */
  readConfig16(offset: number): number;
  /** Releases the registers. */
  close(): void;
}

/** Options of {@link VirtioLegacyTransport}. */
export interface VirtioLegacyTransportOptions {
  /** True while MSI-X is enabled: two vector registers, the device config starts 4 bytes later. */
  msixEnabled?: boolean;
}

/**
 * The legacy interface (virtio 1.1, section 4.1.4.8, "Legacy Interfaces: A
 * Note on PCI Device Layout"): one header in I/O BAR0.
 */
export class VirtioLegacyTransport implements VirtioTransport {
  /** Always `"legacy"`. */
  readonly kind = "legacy";
  #io: ByteRegisters;
  #configOffset: number;

  /** A transport over the legacy header reached through `io`. */
  constructor(io: ByteRegisters, options: VirtioLegacyTransportOptions = {}) {
    this.#io = io;
    // The device-specific config follows the header; it moves by 4 bytes while
    // MSI-X is enabled (section 4.1.4.8).
    this.#configOffset = options.msixEnabled ? VIRTIO_PCI.CONFIG_MSIX : VIRTIO_PCI.CONFIG;
  }

  /** The 8-bit status register. */
  readStatus(): number {
    return this.#io.read8(VIRTIO_PCI.STATUS);
  }

  /** Writes the status register (legacy reset: write 0, then wait for it to read 0). */
  writeStatus(status: number): void {
    this.#io.write8(VIRTIO_PCI.STATUS, status);
  }

  /** Bits 0-31 of host_features: the legacy interface has no more (section 4.1.4.8). */
  deviceFeatures(): bigint {
    return BigInt(this.#io.read32(VIRTIO_PCI.HOST_FEATURES) >>> 0);
  }

  /** Writes guest_features (bits 0-31; higher bits cannot be expressed). */
  writeDriverFeatures(features: bigint): void {
    this.#io.write32(VIRTIO_PCI.GUEST_FEATURES, Number(features & 0xffff_ffffn));
  }

  /** The config vector register (only while MSI-X is enabled, section 4.1.5.1.2). */
  setConfigVector(vector: number): number {
    this.#io.write16(VIRTIO_PCI.MSI_CONFIG_VECTOR, vector);
    return this.#io.read16(VIRTIO_PCI.MSI_CONFIG_VECTOR);
  }

  /** Selects queue `index` and reads queue_num (section 4.1.5.1.3, legacy registers). */
  queueSize(index: number): number {
    this.#io.write16(VIRTIO_PCI.QUEUE_SEL, index);
    return this.#io.read16(VIRTIO_PCI.QUEUE_NUM);
  }

  /**
   * Selects the queue and writes the page number of its memory (legacy: the
   * device derives the rings' addresses from it, section 2.6.2); then the
   * queue's MSI-X vector if asked for.
   */
  activateQueue(vq: Virtqueue, vector?: number): number | undefined {
    this.#io.write16(VIRTIO_PCI.QUEUE_SEL, vq.index);
    this.#io.write32(
      VIRTIO_PCI.QUEUE_PFN,
      vq.memory.physAddr(0) / 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT,
    );
    if (vector === undefined) return undefined;
    this.#io.write16(VIRTIO_PCI.MSI_QUEUE_VECTOR, vector);
    return this.#io.read16(VIRTIO_PCI.MSI_QUEUE_VECTOR);
  }

  /** Writes the queue index to queue_notify. */
  notify(index: number): void {
    this.#io.write16(VIRTIO_PCI.QUEUE_NOTIFY, index);
  }

  /** Legacy devices have no generation counter. */
  configGeneration(): number {
    return 0;
  }

  /** One byte of the device config, after the header. */
  readConfig8(offset: number): number {
    return this.#io.read8(this.#configOffset + offset);
  }

  /** A 16-bit field of the device config. */
  readConfig16(offset: number): number {
    return this.#io.read16(this.#configOffset + offset);
  }

  /** Closes the I/O BAR (if it can be closed). */
  close(): void {
    this.#io.close?.();
  }
}

/**
 * The interface every driver implements — ixy's `struct ixy_device` — and
 * the options common to all of them.
 *
 * Packets move in batches: `rxBatch` fills an array the caller owns with up to
 * `count` received buffers, `txBatch` queues buffers for sending. Batching
 * spreads the fixed costs (a doorbell register write, a ring index update)
 * over many packets; this is what makes a user-space driver fast.
 *
 * @module
 */

import type { PktBuf } from "./mempool.ts";
import type { DeviceStats } from "./stats.ts";
import type { PciDevice } from "./pci.ts";

/** A network device driven by ixy.ts. */
export interface IxyDevice {
  /** The driver's name, e.g. `"virtio"` or `"ixgbe"`. */
  readonly driverName: string;
  /** The PCI address (or model name) of the device. */
  readonly pciAddress: string;
  /** The PCI function behind the device; undefined for a software model. */
  readonly pci?: PciDevice;
  /** Number of receive queues set up. */
  readonly numRxQueues: number;
  /** Number of transmit queues set up. */
  readonly numTxQueues: number;

  /**
   * Receives up to `count` packets from queue `queueId` into `bufs[0..n)` and
   * returns n. The caller owns the returned buffers and must free them (or
   * pass them to `txBatch`).
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number;

  /**
   * Queues `bufs[0..count)` for sending on queue `queueId`; returns how many
   * were taken (fewer when the ring is full). Taken buffers belong to the
   * driver, which frees them once the device has sent them; the caller keeps
   * (and must free or retry) the rest.
   */
  txBatch(queueId: number, bufs: PktBuf[], count: number): number;

  /** Adds the counters since the last call to `stats`. */
  readStats(stats: DeviceStats): void;

  /** Turns promiscuous mode (accept frames for any MAC address) on or off. */
  setPromisc(enabled: boolean): void;

  /** Link speed in Mbit/s, 0 while the link is down. */
  getLinkSpeed(): number;

  /** The device's MAC address, 6 bytes. */
  getMacAddress(): Uint8Array;

  /**
   * Stops the device: waits (briefly) until queued frames are sent, then
   * resets it so it no longer does DMA into our memory.
   */
  close(): void;
}

/** Options for {@link ixyInit} and the drivers' constructors. */
export interface DeviceOptions {
  /** Receive queues to set up (default 1). */
  rxQueues?: number;
  /** Transmit queues to set up (default 1). */
  txQueues?: number;
  /** Take the device even if a kernel interface on it is up (default false). */
  force?: boolean;
}

/** Formats a MAC address as `52:54:00:12:34:56`. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

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
import type { MmioRegion } from "./mmio.ts";
import type { DmaAllocator } from "./memory.ts";

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
   * pass them to `txBatch`). Each has a size of 1..`data.length`.
   *
   * Nothing the device writes makes it throw: a write-back no correct device
   * makes (a length outside the buffer, a frame over several descriptors, a
   * used-ring entry naming a descriptor the device does not hold, a used
   * index more than a ring away) is dropped and counted in
   * {@link DeviceStats} `rxErrors` / `deviceErrors`, and its buffer stays
   * the driver's. It throws only for a queue that does not exist.
   */
  rxBatch(queueId: number, bufs: PktBuf[], count: number): number;

  /**
   * Queues `bufs[0..count)` for sending on queue `queueId`; returns n, how
   * many were taken: `bufs[0..n)`, always a prefix. Taken buffers belong to
   * the driver, which frees them once the device has sent them; the caller
   * keeps (and must free or retry) `bufs[n..count)`.
   *
   * n is smaller than `count` when the ring is full, or at the first buffer
   * whose `size` is not 1..`data.length`: the batch stops there, before
   * anything of that buffer reaches the ring, and everything before it is
   * handed to the device. So a bad buffer never throws and never leaves
   * half-written descriptors behind (which the next call would send after
   * the caller freed their buffers). To tell the two cases apart, look at
   * `bufs[n].size`; retrying a bad buffer returns 0 again. Stopping costs
   * nothing extra on the hot path (the size is read anyway); checking the
   * whole batch first would read every size twice (docs/performance.md,
   * "A device that lies"). Like `rxBatch`, it throws only for a queue that
   * does not exist; lies in the device's transmit write-backs are counted
   * in `deviceErrors`.
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
   * resets it so it no longer does DMA into our memory, and (for a device
   * from `ixyInit`) clears its Bus Master Enable. Every buffer still on a
   * ring goes back to its mempool; counters read until the reset still
   * reach the next `readStats`. A second call does nothing. `ixyInit`
   * makes sure it runs when the process ends (src/exit_guard.ts).
   */
  close(): void;

  /**
   * Receive interrupts, when the device was opened with `interrupts: true`
   * and can deliver them (MSI-X through VFIO, or the software 82599's);
   * undefined otherwise. Use it through src/interrupts.ts
   * (`RxInterruptPolicy`), which polls while traffic flows and sleeps
   * when a queue stays empty.
   */
  readonly interrupts?: IxyInterrupts;
}

/**
 * The MAC address held in an Intel receive address register pair: RAL has
 * bytes 0-3 (byte 0 in bits 7:0), RAH bytes 4-5 in its low 16 bits (82599
 * 8.2.3.7.9-10; 8254x 13.4.30; the 82576's RAL/RAH at 0x5400/0x5404 alike).
 * The ixgbe, igb and e1000 drivers read RAL(0)/RAH(0), which the device
 * loads from its EEPROM.
 *
 * @param ral the RAL register's value
 * @param rah the RAH register's value (its AV bit and pool select are ignored)
 * @returns the 6 bytes, in transmission order
 */
export function macFromReceiveAddress(ral: number, rah: number): Uint8Array {
  return Uint8Array.of(
    ral & 0xff,
    (ral >>> 8) & 0xff,
    (ral >>> 16) & 0xff,
    ral >>> 24,
    rah & 0xff,
    (rah >>> 8) & 0xff,
  );
}

/**
 * The optional interrupt capability of an {@link IxyDevice}: one interrupt
 * per receive queue, masked while the driver polls. It never blocks Deno's
 * event loop: {@link wait} is a Promise.
 *
 * Order matters (the lost-wakeup race): {@link enable}, then look at the ring
 * once more (rxBatch), and only if it is still empty {@link wait}. A frame
 * that arrives after `enable` raises the interrupt, and an interrupt that
 * arrives before `wait` is remembered, so `wait` returns at once.
 */
export interface IxyInterrupts {
  /** Interrupts taken so far (all queues), counted by {@link wait}. */
  readonly count: number;
  /** Unmasks queue `queueId`'s receive interrupt (stale signals are dropped first). */
  enable(queueId: number): void;
  /** Masks it again (we poll). */
  disable(queueId: number): void;
  /**
   * Waits up to `timeoutMs` for queue `queueId`'s interrupt without blocking
   * the event loop; true if it fired, false on timeout.
   */
  wait(queueId: number, timeoutMs: number): Promise<boolean>;
}

/**
 * One interrupt vector as the driver waits for it: a counter the device
 * side increments once per interrupt message. `VfioInterrupt` (an
 * eventfd) and the software 82599's vectors implement it; the receive
 * interrupt policy of src/interrupts.ts waits on them.
 */
export interface InterruptVector {
  /** Takes pending interrupts without waiting; returns how many arrived since the last take. */
  consume(): number;
  /**
   * Waits up to `timeoutMs` without blocking the event loop; returns how
   * many interrupts arrived (0 on timeout). Pending ones return at once.
   */
  wait(timeoutMs: number): Promise<number>;
}

/**
 * Registers addressed by byte offset with 8-, 16- and 32-bit accesses: an I/O
 * BAR (`IoPortRegion`, `VfioIoRegion`) or a memory BAR (`MmioRegion`).
 */
export interface ByteRegisters {
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

/**
 * What a driver's `open` gets from `ixyInit` (drivers/mod.ts): one PCI
 * function, already identified, taken from the kernel and allowed to do DMA —
 * reached as root through sysfs (src/pci.ts) or as a normal user through VFIO
 * (src/vfio.ts). The driver does not need to know which.
 */
export interface PciFunction {
  /** The PCI address, e.g. `0000:00:10.0`. */
  readonly address: string;
  /** PCI vendor ID. */
  readonly vendorId: number;
  /** PCI device ID. */
  readonly deviceId: number;
  /** `vvvv:dddd`, as lspci prints the IDs. */
  readonly ids: string;
  /** How we reach it: `"sysfs"` (root) or `"vfio"`. */
  readonly via: "sysfs" | "vfio";
  /** The sysfs device (sysfs path only), for handing it back to the kernel driver. */
  readonly pci?: PciDevice;
  /** Reads `size` bytes of config space at `offset` (little-endian). */
  readConfig(offset: number, size: 1 | 2 | 4): number;
  /** The kind of BAR `n`. */
  barKind(n: number): "memory" | "io" | "unused";
  /** Maps memory BAR `n`; the mapping lives until exit. */
  mapMemoryBar(n: number): MmioRegion;
  /** Opens I/O BAR `n` for port I/O. */
  openIoBar(n: number): ByteRegisters;
  /** True while MSI-X is enabled (its vectors are in use). */
  readonly msixEnabled: boolean;
  /** With `interrupts: true` over VFIO: where MSI-X vector i arrives, one per RX queue. */
  readonly interruptVectors?: readonly InterruptVector[];
  /**
   * The DMA memory for this device's rings and buffers. `bypass` says why
   * the device's DMA does not go through an IOMMU (e.g. a legacy virtio
   * device, virtio 1.1 section 6.1); undefined if it does, as every PCIe bus
   * master's does. Over sysfs it is always hugepages with physical addresses;
   * over VFIO, IOMMU-mapped memory unless `bypass` is given.
   */
  dmaAllocator(bypass?: string): DmaAllocator;
  /**
   * Clears Bus Master Enable (PCI 3.0, section 6.2.2), which `ixyInit` set
   * before the driver's `open`: the device can no longer start DMA. The last
   * step of the driver's `close()`, after the device's reset; `ixyInit`
   * then counts the device as closed.
   */
  disableBusMastering(): void;
}

/** Options for {@link ixyInit} and the drivers' constructors. */
export interface DeviceOptions {
  /** Receive queues to set up (default 1). */
  rxQueues?: number;
  /** Transmit queues to set up (default 1). */
  txQueues?: number;
  /**
   * Descriptors per receive ring, a power of two, 8..4096 (ixgbe, igb, e1000;
   * default 512). A virtio ring's size is the device's: ignored.
   */
  rxRingSize?: number;
  /** Take the device even if a kernel interface on it is up (default false). */
  force?: boolean;
  /**
   * Set up receive interrupts (MSI-X through VFIO; the software 82599's
   * through `interruptVectors`) and offer {@link IxyDevice.interrupts}
   * (default false: pure polling, as ixy's default).
   */
  interrupts?: boolean;
  /**
   * Most interrupts per second and queue (interrupt throttling, ixgbe EITR,
   * 82599 datasheet 7.3.2.1); 0 = no throttling. Default 100000 (ixy's EITR
   * 0x028, 10 us). Virtio has no throttling and ignores it.
   */
  interruptRate?: number;
}

/** Formats a MAC address as `52:54:00:12:34:56`. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

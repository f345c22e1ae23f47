/**
 * The student-facing contract of the labs: the types a lab file works with
 * and the signature of every function a lab asks for. Import the types in
 * your lab file; from a file in tools/lab/mine/ (where the labs put your
 * copies of the skeletons) that is:
 *
 *     import type { TxRing } from "../contract.ts";
 *
 * Labs 3 and 4 give you a descriptor ring of the 82599 that the checker has
 * already set up (base address, length, queue enabled) — the same state the
 * ixgbe driver keeps per queue (`TxQueue` / `RxQueue` in drivers/ixgbe/tx.ts
 * and rx.ts). You write the code that moves packets through it; the
 * reference the checker runs without --impl is the driver's own
 * drivers/ixgbe/tx.ts / rx.ts. Lab 7 is the other way round, on an 82576
 * (QEMU's igb, in the lab VM): the packet loop is the same code (the igb
 * driver runs drivers/ixgbe/rx.ts's `rxBatch`), and you write what differs —
 * the {@link RxRing}'s device-specific state and the queue's bring-up; its
 * reference is the igb driver's drivers/igb/rx.ts.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import type { DmaAllocator } from "../../src/memory.ts";
import type { Mempool, PktBuf } from "../../src/mempool.ts";
import type { DeviceStats } from "../../src/stats.ts";
import type { IxyDevice } from "../../src/device.ts";

/**
 * One transmit queue of an 82599 (lab 3), enabled and empty when you get it:
 * defined with the driver's own ring code in drivers/ixgbe/tx.ts.
 */
export type { TxRing } from "../../drivers/ixgbe/tx.ts";
import type { TxRing } from "../../drivers/ixgbe/tx.ts";

/**
 * Lab 3: sends `bufs[0..count)` on `q`; returns how many it took (fewer when
 * the ring is full). Taken buffers are yours until the device has sent them
 * (DD), then you free them (`buf.pool.free(buf)`); the caller frees the rest.
 */
export type TxBatchFn = (q: TxRing, bufs: PktBuf[], count: number) => number;

/**
 * One receive queue of advanced descriptors (lab 4: of an 82599): when you
 * get it, every descriptor points at a buffer of `pool` (read format),
 * `bufs[i]` is that buffer, and RDT = size - 1. Defined with the driver's
 * own ring code in drivers/ixgbe/rx.ts.
 */
export type { RxRing } from "../../drivers/ixgbe/rx.ts";
import type { RxRing } from "../../drivers/ixgbe/rx.ts";

/**
 * Lab 4: receives up to `count` frames from `q` into `bufs[0..n)` and returns
 * n; each returned buffer has `size` set to the frame length and belongs to
 * the caller, who frees it.
 */
export type RxBatchFn = (q: RxRing, bufs: PktBuf[], count: number) => number;

/**
 * Lab 7: receive queue `queueId` of an 82576 over `desc` (`size`
 * descriptors, no buffers yet), buffers from `pool`: an {@link RxRing} (the
 * driver's `RxQueue` of drivers/ixgbe/rx.ts) whose `tail` is the 82576's
 * RDT(queueId) and whose `errorBits` is the 82576's RXE bit.
 */
export type NewRxQueueFn = (
  regs: RegisterSpace,
  queueId: number,
  desc: Uint32Array,
  size: number,
  pool: Mempool,
) => RxRing;

/**
 * Lab 7: programs receive queue `q.queueId` of an 82576 for the ring of
 * `q.size` descriptors at device address `ringPhysAddr` (RXDCTL.ENABLE off
 * and polled, SRRCTL, RDBAL/RDBAH/RDLEN, RDH = RDT = 0) and leaves it
 * disabled. `q` is an {@link RxRing} whose descriptors hold no buffers yet.
 * Reference: drivers/igb/rx.ts.
 */
export type ConfigureRxQueueFn = (q: RxRing, ringPhysAddr: number) => void;

/**
 * Lab 7: posts a buffer of `q.pool` in every descriptor (recording it in
 * `q.bufs`), enables the queue (RXDCTL.ENABLE, polled until it reads 1) and
 * hands the device all descriptors but one (RDT = size - 1).
 */
export type StartRxQueueFn = (q: RxRing) => void;

/**
 * Lab 1: what {@link ParseConfigFn} reads from a configuration space: vendor
 * and device ID, base class, Bus Master Enable, BAR0's address and kind.
 * Defined with the project's own decoder in src/pci.ts.
 */
export type { ConfigHeader } from "../../src/pci.ts";
import type { ConfigHeader } from "../../src/pci.ts";

/** Lab 1: decodes the first 64 bytes of a PCI configuration space (the sysfs `config` file). */
export type ParseConfigFn = (config: Uint8Array) => ConfigHeader;
/** Lab 1: the 6-byte MAC address in RAL/RAH(0) of an 82599. */
export type ReadMacFn = (regs: RegisterSpace) => Uint8Array;
/** Lab 1: link speed in Mbit/s from LINKS of an 82599; 0 while the link is down. */
export type ReadLinkSpeedFn = (regs: RegisterSpace) => number;

/** Lab 2: byte offset in /proc/self/pagemap of the entry for virtual address `virt`. */
export type PagemapOffsetFn = (virt: number) => number;
/** Lab 2: the physical address of `virt` from its 64-bit pagemap entry; throws if not present. */
export type PhysAddrFn = (entry: bigint, virt: number) => number;

/** Lab 2: a pool of fixed-size packet buffers in DMA memory. */
export interface LabMempool {
  /** Number of buffers. */
  readonly numEntries: number;
  /** Bytes per buffer. */
  readonly entrySize: number;
  /** Number of free buffers. */
  readonly freeCount: number;
  /** Device-visible (physical) address of the first byte of buffer `index`. */
  physAddr(index: number): number;
  /** Takes up to `count` free buffers, writes their indices to `out[0..n)`, returns n. */
  allocBatch(out: number[], count: number): number;
  /** Returns buffer `index` to the pool; throws on a double free. */
  free(index: number): void;
}

/**
 * Lab 2: allocates `numEntries * entrySize` bytes from `dma` and carves them
 * into buffers; each buffer's first 8 bytes hold its physical address
 * (little-endian, low word first), as ixy's `struct pkt_buf`.
 */
export type CreateMempoolFn = (
  dma: DmaAllocator,
  options: { numEntries: number; entrySize: number },
) => LabMempool;

/** Lab 5: adds the 82599's counters since the last call to `stats` (they clear on read). */
export type ReadStatsFn = (regs: RegisterSpace, stats: DeviceStats) => void;
/** Lab 5: turns unicast and multicast promiscuous mode on or off, leaving other FCTRL bits alone. */
export type SetPromiscFn = (regs: RegisterSpace, enabled: boolean) => void;

/**
 * Lab 6: sends frames from `pool` on queue 0 of `dev` in batches of `batch`
 * for `durationMs` milliseconds (buffers already hold a valid frame and size);
 * returns how many frames `txBatch` took.
 */
export type TxLoopFn = (
  dev: IxyDevice,
  pool: Mempool,
  options: { batch: number; durationMs: number },
) => number;

/**
 * What the lab checkers share: a software 82599 with the reference driver on
 * its ports, descriptor rings handed to the student's code (labs 3 and 4),
 * a register recorder, and test traffic.
 *
 * The rings are set up with register writes only, the way the driver does it
 * (82599 4.6.7 / 4.6.8, dynamic queue enabling 4.6.7.1 / 4.6.8.1), so the
 * drivers need no hook: a transmit queue the driver does not use is taken
 * over, and receive queue 0 (the only one that receives without RSS) is
 * disabled, given a new ring and enabled again.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { waitForFlags32 } from "../../src/mmio.ts";
import { hi32, lo32 } from "../../src/memory.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { IxgbeDevice } from "../../drivers/ixgbe/ixgbe.ts";
import * as C from "../../drivers/ixgbe/constants.ts";
import { createSim82599, type Sim82599, type SimPort } from "../sim82599/mod.ts";
import type { FrameTemplate } from "../lib/udp_frame.ts";
import type { RxRing, TxRing } from "./contract.ts";
import { Unmet } from "./checklist.ts";

/** A register space that passes accesses through and records the writes. */
export class RecordingRegs implements RegisterSpace {
  /** Writes since the last {@link clear}: offset and value. */
  readonly writes: { offset: number; value: number }[] = [];
  #inner: RegisterSpace;

  /** Wraps `inner`. */
  constructor(inner: RegisterSpace) {
    this.#inner = inner;
  }

  /** Reads through. */
  read32(offset: number): number {
    return this.#inner.read32(offset);
  }

  /** Writes through and records. */
  write32(offset: number, value: number): void {
    this.writes.push({ offset, value: value >>> 0 });
    this.#inner.write32(offset, value);
  }

  /** Writes to `offset` since the last {@link clear}. */
  writesTo(offset: number): number[] {
    return this.writes.filter((w) => w.offset === offset).map((w) => w.value);
  }

  /** Forgets the recorded writes. */
  clear(): void {
    this.writes.length = 0;
  }
}

/** Brings up `port` with the project's ixgbe driver (reset, link, RX and TX init). */
export function attachReference(port: SimPort, linkTimeoutMs = 10_000): IxgbeDevice {
  return IxgbeDevice.attach(port.regs, port.dma, { name: port.name, linkTimeoutMs });
}

/**
 * Sets up transmit queue `queueId` (not used by the driver) with a ring of
 * `size` descriptors and enables it (4.6.8, 4.6.8.1); returns it as a
 * {@link TxRing} whose register accesses go through `regs`.
 */
export function takeTxQueue(
  port: SimPort,
  options: { queueId: number; size: number; regs: RegisterSpace },
): TxRing {
  const { queueId: q, size } = options;
  const bytes = size * C.IXGBE_DESC_SIZE;
  const mem = port.dma.allocate(bytes);
  const phys = mem.physAddr(0);
  const r = port.regs;
  r.write32(C.IXGBE_TDBAL(q), lo32(phys));
  r.write32(C.IXGBE_TDBAH(q), hi32(phys));
  r.write32(C.IXGBE_TDLEN(q), bytes);
  r.write32(C.IXGBE_TDH(q), 0);
  r.write32(C.IXGBE_TDT(q), 0);
  r.write32(C.IXGBE_TXDCTL(q), C.IXGBE_TXDCTL_ENABLE);
  waitForFlags32(r, C.IXGBE_TXDCTL(q), C.IXGBE_TXDCTL_ENABLE, true, { what: `TX queue ${q}` });
  return {
    regs: options.regs,
    queueId: q,
    tail: C.IXGBE_TDT(q),
    desc: new Uint32Array(mem.buffer, 0, bytes / 4),
    size,
    bufs: new Array(size).fill(undefined),
    txIndex: 0,
    cleanIndex: 0,
  };
}

/**
 * Replaces receive queue 0 of `port` (set up by the driver) with a ring of
 * `size` descriptors, each pointing at a buffer of a fresh pool, RDT =
 * size - 1 (4.6.7, 4.6.7.1); returns it as an {@link RxRing}.
 */
export function takeRxQueue0(
  port: SimPort,
  options: { size: number; regs: RegisterSpace },
): RxRing {
  const { size } = options;
  const r = port.regs;
  r.write32(C.IXGBE_RXDCTL(0), r.read32(C.IXGBE_RXDCTL(0)) & ~C.IXGBE_RXDCTL_ENABLE);
  waitForFlags32(r, C.IXGBE_RXDCTL(0), C.IXGBE_RXDCTL_ENABLE, false, { what: "RX queue 0 off" });
  const bytes = size * C.IXGBE_DESC_SIZE;
  const mem = port.dma.allocate(bytes);
  const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
  // The driver's receive buffers: SRRCTL(0).BSIZEPACKET (8.2.3.8.7) stays as
  // the driver set it for them, so the data area must be as large.
  const pool = Mempool.create(port.dma, { numEntries: size * 4, entrySize: 4096 });
  const bufs: (PktBuf | undefined)[] = [];
  for (let d = 0; d < size; d++) {
    const buf = pool.alloc()!;
    const addr = buf.dataPhysAddr;
    desc[4 * d] = lo32(addr);
    desc[4 * d + 1] = hi32(addr);
    desc[4 * d + 2] = 0;
    desc[4 * d + 3] = 0;
    bufs.push(buf);
  }
  const phys = mem.physAddr(0);
  r.write32(C.IXGBE_RDBAL(0), lo32(phys));
  r.write32(C.IXGBE_RDBAH(0), hi32(phys));
  r.write32(C.IXGBE_RDLEN(0), bytes);
  r.write32(C.IXGBE_RDH(0), 0);
  r.write32(C.IXGBE_RDT(0), 0);
  r.write32(C.IXGBE_RXDCTL(0), r.read32(C.IXGBE_RXDCTL(0)) | C.IXGBE_RXDCTL_ENABLE);
  waitForFlags32(r, C.IXGBE_RXDCTL(0), C.IXGBE_RXDCTL_ENABLE, true, { what: "RX queue 0 on" });
  r.write32(C.IXGBE_RDT(0), size - 1);
  return {
    regs: options.regs,
    queueId: 0,
    tail: C.IXGBE_RDT(0),
    errorBits: C.IXGBE_RXDADV_STAT.RXE,
    desc,
    size,
    pool,
    bufs,
    index: 0,
    discarding: false,
    errors: 0,
  };
}

/**
 * Sends `count` test frames with sequence numbers `first..` from `dev` (the
 * reference driver), waiting for the device after each batch.
 */
export function sendReference(
  tx: { sim: Sim82599; dev: IxgbeDevice; pool: Mempool; template: FrameTemplate },
  range: { first: number; count: number },
): void {
  const bufs: PktBuf[] = new Array(32);
  let seq = range.first;
  const end = range.first + range.count;
  while (seq < end) {
    const n = tx.pool.allocBatch(bufs, Math.min(32, end - seq));
    if (n === 0) throw new Error("lab checker: reference TX pool empty");
    for (let i = 0; i < n; i++) {
      bufs[i].data.set(tx.template.bytes);
      tx.template.stamp(bufs[i].data, seq + i);
      bufs[i].size = tx.template.bytes.length;
    }
    const sent = tx.dev.txBatch(0, bufs, n);
    for (let i = sent; i < n; i++) tx.pool.free(bufs[i]);
    seq += sent;
    tx.sim.settle();
  }
}

/** Receives with the reference driver until nothing more comes; calls `each` per frame. */
export function drainReference(dev: IxgbeDevice, each: (frame: Uint8Array) => void = () => {}) {
  const bufs: PktBuf[] = new Array(64);
  let got = 0;
  for (let n; (n = dev.rxBatch(0, bufs, 64)) > 0;) {
    for (let i = 0; i < n; i++) {
      each(bufs[i].data.subarray(0, bufs[i].size));
      bufs[i].pool.free(bufs[i]);
    }
    got += n;
  }
  return got;
}

/**
 * Throws {@link Unmet} with the first programming error the device model
 * recorded since `seen` violations (the datasheet section included).
 */
export function noNewViolations(sim: Sim82599, seen: { count: number }): void {
  const all = sim.violations();
  const fresh = all.slice(seen.count);
  seen.count = all.length;
  if (fresh.length === 0) return;
  const v = fresh[0];
  const more = fresh.length > 1 ? ` (and ${fresh.length - 1} more)` : "";
  throw new Unmet(
    `the 82599 model caught a mistake: ${v.register}: ${v.message} (datasheet ${v.section})${more}`,
  );
}

/** Two cabled software 82599 ports, both brought up by the reference driver. */
export interface Rig {
  /** The model. */
  sim: Sim82599;
  /** Port A and the driver on it. */
  a: SimPort;
  /** Port B and the driver on it. */
  b: SimPort;
  /** The reference driver on port A. */
  devA: IxgbeDevice;
  /** The reference driver on port B. */
  devB: IxgbeDevice;
  /** Violations recorded before the requirement began (bring-up is not the student's). */
  seen: { count: number };
}

/**
 * The model the requirements of one lab run share: starting a software 82599
 * (a Worker) costs far more than resetting its ports, so {@link withRig}
 * starts it once and resets both ports for each requirement. Each
 * requirement takes about ten DMA slabs (rings and pools); slabs are only
 * address space until touched.
 */
let shared: Promise<Sim82599> | undefined;

/**
 * Runs one requirement on a freshly reset pair of cabled ports (CTRL.RST and
 * a new bring-up by the reference driver, new rings, new pools), so frames,
 * buffers or a broken ring of a failed requirement cannot make the next one
 * fail too. Call {@link closeRigs} when the lab is done.
 */
export async function withRig<T>(run: (rig: Rig) => T | Promise<T>): Promise<T> {
  shared ??= createSim82599({ ports: 2, wiring: "cable", dmaSlabs: 192 });
  const sim = await shared;
  const [a, b] = sim.ports;
  const devA = attachReference(a);
  const devB = attachReference(b);
  return await run({ sim, a, b, devA, devB, seen: { count: sim.violations().length } });
}

/** Stops the model {@link withRig} started. */
export async function closeRigs(): Promise<void> {
  const sim = shared;
  shared = undefined;
  if (sim !== undefined) (await sim).stop();
}

/**
 * sim82599: a software Intel 82599 for testing the ixgbe driver without the
 * card — a documented test device in the spirit of Linux's netdevsim, not a
 * mock: the driver runs unchanged, programs registers and descriptors, and
 * the model behaves as the datasheet specifies for everything the driver
 * touches (see model.ts for the list), concurrently, in a Worker, the way the
 * chip runs next to the CPU. The driver polls it like a card.
 *
 *     const sim = await createSim82599({ ports: 2, wiring: "cable" });
 *     try {
 *       const [a, b] = sim.ports;
 *       const devA = IxgbeDevice.attach(a.regs, a.dma, { name: a.name });
 *       ...
 *       assert.deepEqual(sim.violations(), []);
 *     } finally {
 *       sim.stop();
 *     }
 *
 * Design:
 *
 * - DMA memory. A SharedArrayBuffer can only reach a Worker by message, and
 *   the device loop never stops to read messages. So the simulation
 *   preallocates its DMA memory as equal slabs (lazily backed by the OS, so
 *   unused slabs cost nothing), gives them to the worker at start, and hands
 *   them out through a {@link SimulatedDmaAllocator} whose `slabUse` array —
 *   also shared — tells the device which memory the driver owns. Slab i sits
 *   at physical address `0x1_0000_0000 + i * slabSize` (above 4 GiB, so a
 *   driver that drops the high half of an address is caught).
 * - Registers. The driver's {@link RegisterSpace} is a {@link SimBar}: a write
 *   is posted into a per-port ring in shared memory; a read is posted too and
 *   waits (Atomics.wait) for the device's answer. The device consumes the
 *   ring in order, so side effects (read-to-clear counters, self-clearing
 *   CTRL.RST, tail doorbells) happen exactly once and in program order, and a
 *   read sees every earlier write — the PCIe ordering rules.
 * - Descriptors and packet data live in DMA memory that both threads see;
 *   like real hardware, the device writes the status word (DD) last with a
 *   sequentially consistent store and the driver reads it with Atomics.load.
 * - Wiring: ports back to back in pairs ("cable": port 0's frames arrive at
 *   port 1 and vice versa, likewise 2 and 3, ...; four ports are like two
 *   dual-port cards in one machine, sharing its memory), each port to itself ("loopback", an external loopback
 *   plug), or "none" (no link). The wire is instantaneous and lossless; there
 *   is no flow control, so a receiver without free descriptors drops frames
 *   (QPRDC / MPC count them), as a real one would.
 * - Interrupts: MSI-X as VFIO sets it up; each port has 16 vectors, each a
 *   shared word the device bumps per message ({@link SimPort.msix}, the
 *   model's eventfds). Causes, masking, auto-clear and throttling follow the
 *   datasheet (interrupts.ts).
 * - Violations: programming errors the datasheet forbids are recorded with
 *   the register and section (model.ts lists them, violations.ts checks
 *   them); {@link Sim82599.violations} returns them. Tests assert there are
 *   none.
 * - Idle: when there is nothing to do, the worker sleeps on a doorbell word
 *   that every request bumps, so an idle simulation uses no CPU.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { SimulatedDmaAllocator } from "../devices/dma_allocator.ts";
import { IxyError } from "../../src/error.ts";
import { SimBar, SimMsixVector } from "./bar.ts";
import { BAR_SIZE } from "./registers.ts";
import {
  CTRL,
  CTRL_WORDS,
  type InitMessage,
  IRQ_VECTORS,
  LOG_BYTES,
  OP,
  RING_BYTES,
  type Violation,
} from "./protocol.ts";

export type { Violation } from "./protocol.ts";
export { SimMsixVector } from "./bar.ts";
export { SimulatedDmaAllocator, type SimulatedDmaOptions } from "../devices/dma_allocator.ts";

/** Options for {@link createSim82599}. */
export interface Sim82599Options {
  /** Number of ports (default 2). */
  ports?: number;
  /** How the ports are connected (default "cable" for 2 ports, else "loopback"); "cable" pairs 0-1, 2-3, ... */
  wiring?: "cable" | "loopback" | "none";
  /** Time from AUTOC.AN_RESTART to link up (default 5 ms). */
  linkDelayMs?: number;
  /** Time a global reset takes (default 1 ms). */
  resetDelayMs?: number;
  /** Number of DMA slabs (default 64); each allocation takes one. */
  dmaSlabs?: number;
  /** Size of each DMA slab in MiB (default 8), the largest single allocation. */
  dmaSlabMiB?: number;
}

/** One port of the model, what a driver attaches to. */
export interface SimPort {
  /** The port's name, used as the device's "PCI address", e.g. `sim82599-0`. */
  readonly name: string;
  /** The port's BAR0. */
  readonly regs: RegisterSpace;
  /** Where the driver (and the application) get DMA memory from (shared by all ports). */
  readonly dma: SimulatedDmaAllocator;
  /** The MAC address the port's EEPROM holds (RAL/RAH(0) after reset). */
  readonly mac: Uint8Array;
  /**
   * Test hook: makes the device write back the next free receive descriptor
   * of `queue` with garbage — `length` bytes and EOP or not — and no data.
   * Returns false if the queue had no free descriptor.
   */
  injectRxDescriptor(garbage: { queue?: number; length: number; eop: boolean }): boolean;
  /**
   * The port's MSI-X vectors 0-15 as the driver waits for them (the model's
   * eventfds; interrupts.ts raises them as the datasheet says). Pass them to
   * the ixgbe driver as `interruptVectors` with `interrupts: true`.
   */
  readonly msix: readonly SimMsixVector[];
  /**
   * The port's register file as the device holds it, for observers that look
   * from the side (tools/view/) like a reader of a mapped BAR: plain reads,
   * no side effects (the clear-on-read statistics are kept elsewhere).
   * Drivers use {@link regs}.
   */
  readonly registerFile: SharedArrayBuffer;
}

/** A running software 82599 (all ports share one worker). */
export interface Sim82599 {
  /** The ports. */
  readonly ports: readonly SimPort[];
  /** The DMA allocator shared by all ports. */
  readonly dma: SimulatedDmaAllocator;
  /** All violations recorded so far (waits until earlier register writes were processed). */
  violations(): Violation[];
  /** Waits until the device has nothing left to do (all transmit rings drained, timers done). */
  settle(options?: { timeoutMs?: number }): void;
  /** Stops the worker. Call it in a finally block. */
  stop(): void;
}

/**
 * Starts a software 82599 with `options.ports` ports in a Worker and waits
 * until it runs. Stop it with {@link Sim82599.stop}.
 */
export async function createSim82599(options: Sim82599Options = {}): Promise<Sim82599> {
  const numPorts = options.ports ?? 2;
  const wiring = options.wiring ?? (numPorts === 2 ? "cable" : "loopback");
  if (!Number.isInteger(numPorts) || numPorts < 1 || numPorts > 8) {
    throw new IxyError(`Cannot create a software 82599 with ${numPorts} ports: use 1..8.`);
  }
  if (wiring === "cable" && numPorts % 2 !== 0) {
    throw new IxyError(
      `Cannot cable ${numPorts} ports: cables pair ports 0-1, 2-3, ... Use an even number.`,
    );
  }
  const slabSize = (options.dmaSlabMiB ?? 8) * 1024 * 1024;
  const slabs = Array.from(
    { length: options.dmaSlabs ?? 64 },
    () => new SharedArrayBuffer(slabSize),
  );
  const dmaBase = 0x1_0000_0000;
  const dma = new SimulatedDmaAllocator({ base: dmaBase, slabs });
  const ctrlBuffer = new SharedArrayBuffer(CTRL_WORDS * 4);
  const ctrl = new Int32Array(ctrlBuffer);
  const log = new SharedArrayBuffer(LOG_BYTES);

  const portInit: InitMessage["ports"] = [];
  const bars: SimBar[] = [];
  for (let i = 0; i < numPorts; i++) {
    const name = `sim82599-${i}`;
    // Locally administered unicast MACs: 02:82:59:00:00:0i.
    const mac = [0x02, 0x82, 0x59, 0x00, 0x00, i];
    const ring = new SharedArrayBuffer(RING_BYTES);
    const irq = new SharedArrayBuffer(IRQ_VECTORS * 4);
    const registerFile = new SharedArrayBuffer(BAR_SIZE);
    portInit.push({ name, mac, ring, irq, registerFile });
    bars.push(new SimBar(name, { ring, ctrl: ctrlBuffer }));
  }

  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    Atomics.store(ctrl, CTRL.STOP, 1);
    Atomics.notify(ctrl, CTRL.DOORBELL);
    worker.terminate();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new IxyError(`The software 82599 worker failed to start: ${e.message}`));
      };
      const init: InitMessage = {
        ports: portInit,
        wiring,
        ctrl: ctrlBuffer,
        log,
        slabs,
        slabUse: dma.slabUse.buffer as SharedArrayBuffer,
        slabLayout: dma.slabLayout.buffer as SharedArrayBuffer,
        dmaBase,
        slabSize,
        linkDelayMs: options.linkDelayMs ?? 5,
        resetDelayMs: options.resetDelayMs ?? 1,
      };
      worker.postMessage(init);
    });
  } catch (e) {
    stop();
    throw e;
  }
  worker.onmessage = null;

  const ports: SimPort[] = bars.map((bar, i) => ({
    name: bar.name,
    regs: bar,
    dma,
    mac: Uint8Array.from(portInit[i].mac),
    injectRxDescriptor: (g) =>
      bar.request(OP.INJECT_RX, {
        a: g.queue ?? 0,
        b: (g.length & 0xffff) | (g.eop ? 0x10000 : 0),
      }) === 1,
    registerFile: portInit[i].registerFile,
    msix: Array.from(
      { length: IRQ_VECTORS },
      (_, v) => new SimMsixVector(new Int32Array(portInit[i].irq), v),
    ),
  }));

  const decoder = new TextDecoder();
  return {
    ports,
    dma,
    violations(): Violation[] {
      // A round trip on every port: the device has processed all earlier writes.
      if (!stopped) { for (const bar of bars) bar.request(OP.SYNC); }
      const used = Atomics.load(ctrl, CTRL.LOG_BYTES);
      const text = decoder.decode(new Uint8Array(log).slice(0, used));
      const list = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Violation);
      const total = Atomics.load(ctrl, CTRL.VIOLATIONS);
      if (total > list.length) {
        list.push({
          port: "*",
          register: "*",
          section: "-",
          message: `${total - list.length} more violations did not fit in the log.`,
        });
      }
      return list;
    },
    settle(settleOptions = {}): void {
      for (const bar of bars) {
        bar.request(OP.SETTLE, { timeoutMs: settleOptions.timeoutMs ?? 10_000 });
      }
    },
    stop,
  };
}

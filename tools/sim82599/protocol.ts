/**
 * The shared-memory protocol between a driver thread and the software 82599
 * running in a Worker (see mod.ts for the whole design).
 *
 * Each port has a *request ring* (an Int32Array over a SharedArrayBuffer):
 *
 * | word           | written by | meaning                                     |
 * |----------------|------------|---------------------------------------------|
 * | HEAD           | driver     | requests posted so far (wraps at 2^32)      |
 * | TAIL           | device     | requests consumed so far                    |
 * | REPLY_SEQ      | device     | sequence number of the last answered request|
 * | REPLY_VALUE    | device     | its answer (a register value)               |
 * | ENTRIES + 5k.. | driver     | entry k: op, a, b, seq, time                |
 *
 * Register writes are posted (the driver does not wait), like PCIe posted
 * writes; reads wait for the answer, and since the device consumes the ring in
 * order, a read returns only after every earlier write took effect — the PCIe
 * ordering rule "a read flushes posted writes". One *control* array is shared
 * by all ports: a doorbell the device sleeps on, the stop flag, and the
 * violation log.
 *
 * @module
 */

/** Word indices in a port's request ring. */
export const RING = {
  HEAD: 0,
  TAIL: 1,
  REPLY_SEQ: 2,
  REPLY_VALUE: 3,
  /** First entry; entries are {@link ENTRY_WORDS} words each. */
  ENTRIES: 8,
} as const;

/** Type of {@link RING}. */
export type RING = typeof RING;

/**
 * Words per ring entry: op, a, b, seq, time. `time` is when the driver
 * posted the request, in microseconds of the driver's clock (wrapping at
 * 2^32): the device compares two of them to check the waits the datasheet
 * asks software for (e.g. ~1 ms after CTRL.RST, 8.2.3.1.1), which the
 * device's own clock could not judge (it may consume both at once).
 */
export const ENTRY_WORDS = 5;
/** Entries per ring (a power of two). */
export const RING_CAPACITY = 4096;
/** Bytes of a request ring. */
export const RING_BYTES = (RING.ENTRIES + ENTRY_WORDS * RING_CAPACITY) * 4;

/** Request operations. */
export const OP = {
  /** Register write: a = offset, b = value. Posted. */
  WRITE: 1,
  /** Register read: a = offset. Answered with the value. */
  READ: 2,
  /**
   * Test hook: write back the next receive descriptor of queue a with garbage
   * instead of a frame: b = length (bits 15:0) | EOP flag (bit 16). Answered
   * with 1, or 0 when the queue had no free descriptor.
   */
  INJECT_RX: 3,
  /** Answered (with 0) once the device has nothing left to do. */
  SETTLE: 4,
  /** Answered (with 0) at once: every earlier request has been processed. */
  SYNC: 5,
} as const;

/** Type of {@link OP}. */
export type OP = typeof OP;

/** Word indices in the control array. */
export const CTRL = {
  /** Incremented (and notified) on every request: the device sleeps on it. */
  DOORBELL: 0,
  /** 1 asks the device loop to end. */
  STOP: 1,
  /** Bytes used in the violation log. */
  LOG_BYTES: 2,
  /** Number of violations (also those that no longer fit in the log). */
  VIOLATIONS: 3,
} as const;

/** Type of {@link CTRL}. */
export type CTRL = typeof CTRL;

/** Words in the control array. */
export const CTRL_WORDS = 8;
/** Bytes of the violation log (JSON lines). */
export const LOG_BYTES = 1 << 20;

/** MSI-X vectors per port (words of a port's `irq` array); interrupts.ts models vectors 0-15. */
export const IRQ_VECTORS = 16;

/** What the main thread tells the worker at start. */
export interface InitMessage {
  /**
   * One entry per port; `irq` holds one Int32 word per MSI-X vector
   * ({@link IRQ_VECTORS}) that the device increments (and notifies) per
   * interrupt message: the model's eventfds.
   */
  ports: {
    name: string;
    mac: number[];
    ring: SharedArrayBuffer;
    irq: SharedArrayBuffer;
    /** The register file (model.ts BAR_SIZE bytes), readable from the side. */
    registerFile: SharedArrayBuffer;
  }[];
  /** How the ports are connected. */
  wiring: "cable" | "loopback" | "none";
  /** The control array ({@link CTRL}). */
  ctrl: SharedArrayBuffer;
  /** The violation log. */
  log: SharedArrayBuffer;
  /** The DMA slabs, equally sized, slab i at `dmaBase + i * slabSize`. */
  slabs: SharedArrayBuffer[];
  /** Bytes the driver owns in each slab (SimulatedDmaAllocator.slabUse). */
  slabUse: SharedArrayBuffer;
  /** Packet-buffer layout of each slab (SimulatedDmaAllocator.slabLayout). */
  slabLayout: SharedArrayBuffer;
  /** Physical address of slab 0. */
  dmaBase: number;
  /** Bytes per slab. */
  slabSize: number;
  /** Time from auto-negotiation restart to link up. */
  linkDelayMs: number;
  /** Time a global reset takes (CTRL.RST set until it self-clears). */
  resetDelayMs: number;
}

/** One recorded programming error of the driver. */
export interface Violation {
  /** The port it happened on. */
  port: string;
  /** The register (or descriptor) involved, e.g. `RDT(0)`. */
  register: string;
  /** The datasheet section that forbids it, e.g. `8.2.3.8.5`. */
  section: string;
  /** What happened. */
  message: string;
}

/**
 * The driver side of a model port's BAR0: a {@link RegisterSpace} whose
 * accesses become requests in a shared ring that the device worker consumes
 * in order (protocol.ts). Writes are posted; reads block until the device
 * answers (Atomics.wait), after all earlier writes took effect.
 *
 * No per-access allocation, so lab 6's allocation probe
 * (tools/lab/lab6_perf.ts) sees only the student's code: a loop that reads a
 * register per frame (getLinkSpeed) was blamed for the model's garbage. A
 * read or write here touches only typed arrays and small integers:
 *
 * - the arguments travel as plain numbers (`#roundTrip`), not in an options
 *   object: V8 removes such an object only where it inlines the callee;
 * - the time stamp of each request, in the driver's clock (microseconds,
 *   wrapping at 2^32: protocol.ts `ENTRY_WORDS`), comes from
 *   tools/lib/clock.ts `monotonicMicros32`, an integer clock, not
 *   `performance.now()`, whose double result becomes a new heap number
 *   wherever that call is not inlined;
 * - a read's time limit is counted in timed-out waits, so the wait loop reads
 *   no clock at all.
 *
 * Measured with tests/sim/bar_alloc_probe.ts (Deno 2.9.6, this project's
 * loaded 2-vCPU VM), bytes the heap grew per access once warm, before and
 * after: read32 31 → 0.2 by default, 55 → 0.2 with TurboFan off (Maglev),
 * 71 → 0.2 with inlining off; write32 16 → 0.2 with inlining off. The 0.2 is
 * the probe's own sampling.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { IxyError } from "../../src/error.ts";
import { monotonicMicros32 } from "../lib/clock.ts";
import { CTRL, ENTRY_WORDS, OP, RING, RING_CAPACITY } from "./protocol.ts";

/** How long a read waits for the device before giving up. */
const ANSWER_TIMEOUT_MS = 5000;
/**
 * A waiting read sleeps at most this long at a time (then checks that the
 * simulation still runs). Each sleep that ends by timing out, not by the
 * device's answer, adds this much to the time waited: at least that much
 * time passed, so the limit is never reached early, without a clock read.
 */
const WAIT_SLICE_MS = 20;

/** BAR0 of one model port, as the driver sees it. */
export class SimBar implements RegisterSpace {
  /** The port's name (for error messages). */
  readonly name: string;
  #ring: Int32Array;
  #ctrl: Int32Array;
  #seq = 0;

  /** Wraps a port's request ring and the shared control array. */
  constructor(name: string, shared: { ring: SharedArrayBuffer; ctrl: SharedArrayBuffer }) {
    this.name = name;
    this.#ring = new Int32Array(shared.ring);
    this.#ctrl = new Int32Array(shared.ctrl);
  }

  /** Posts a register read and waits for the device's answer. */
  read32(offset: number): number {
    return this.#roundTrip(OP.READ, offset, 0, ANSWER_TIMEOUT_MS) >>> 0;
  }

  /** Posts a register write (does not wait, like a PCIe posted write). */
  write32(offset: number, value: number): void {
    const e = this.#reserve();
    this.#ring[e] = OP.WRITE;
    this.#ring[e + 1] = offset;
    this.#ring[e + 2] = value | 0;
    this.#ring[e + 3] = 0;
    this.#ring[e + 4] = monotonicMicros32();
    this.#publish();
  }

  /**
   * Posts request `op` (protocol.ts `OP`) with arguments `a`, `b` and waits
   * for the answer (up to `timeoutMs`); used for reads and the test hooks.
   */
  request(op: number, args: { a?: number; b?: number; timeoutMs?: number } = {}): number {
    return this.#roundTrip(op, args.a ?? 0, args.b ?? 0, args.timeoutMs ?? ANSWER_TIMEOUT_MS);
  }

  /** {@link request} with its arguments as plain numbers: what read32 calls, allocating nothing. */
  #roundTrip(op: number, a: number, b: number, timeoutMs: number): number {
    this.#seq = (this.#seq + 1) | 0;
    if (this.#seq === 0) this.#seq = 1;
    const seq = this.#seq;
    const e = this.#reserve();
    this.#ring[e] = op;
    this.#ring[e + 1] = a;
    this.#ring[e + 2] = b | 0;
    this.#ring[e + 3] = seq;
    this.#ring[e + 4] = monotonicMicros32();
    this.#publish();
    let waitedMs = 0;
    for (;;) {
      const got = Atomics.load(this.#ring, RING.REPLY_SEQ);
      if (got === seq) return Atomics.load(this.#ring, RING.REPLY_VALUE);
      this.#checkRunning();
      if (Atomics.wait(this.#ring, RING.REPLY_SEQ, got, WAIT_SLICE_MS) === "timed-out") {
        waitedMs += WAIT_SLICE_MS;
        if (waitedMs >= timeoutMs) {
          throw new IxyError(
            `Software 82599 port ${this.name} did not answer a request (op ${op}, 0x${
              a.toString(16)
            }) within ${timeoutMs} ms: its worker is stuck or crashed. See the worker's error above.`,
          );
        }
      }
    }
  }

  /** Waits for a free ring entry and returns its first word index (fill it, then publish). */
  #reserve(): number {
    const ring = this.#ring;
    const head = Atomics.load(ring, RING.HEAD);
    // Ring full: wait for the device to consume (it notifies TAIL).
    for (;;) {
      const tail = Atomics.load(ring, RING.TAIL);
      if (((head - tail) | 0) < RING_CAPACITY) break;
      this.#checkRunning();
      Atomics.wait(ring, RING.TAIL, tail, 20);
    }
    return RING.ENTRIES + (head & (RING_CAPACITY - 1)) * ENTRY_WORDS;
  }

  /** Publishes the reserved entry and rings the doorbell. */
  #publish(): void {
    // Publishing HEAD with a sequentially consistent store orders the entry
    // (and any descriptor we wrote before) before the device's reads.
    Atomics.store(this.#ring, RING.HEAD, (Atomics.load(this.#ring, RING.HEAD) + 1) | 0);
    Atomics.add(this.#ctrl, CTRL.DOORBELL, 1);
    Atomics.notify(this.#ctrl, CTRL.DOORBELL);
  }

  #checkRunning(): void {
    if (Atomics.load(this.#ctrl, CTRL.STOP) !== 0) {
      throw new IxyError(
        `Software 82599 port ${this.name} is stopped: no register access after sim.stop().`,
      );
    }
  }
}

/**
 * One MSI-X vector of a model port as the driver waits for it — the model's
 * eventfd: the device worker increments a shared word per message and
 * notifies it; we wait with `Atomics.waitAsync`, which returns a Promise, so
 * the event loop keeps running (src/interrupts.ts `InterruptVector`).
 */
export class SimMsixVector {
  /** The vector number. */
  readonly vector: number;
  #words: Int32Array;
  #seen = 0;

  /** Vector `vector` of a port's shared vector array `words`. */
  constructor(words: Int32Array, vector: number) {
    this.#words = words;
    this.vector = vector;
    this.#seen = Atomics.load(words, vector);
  }

  /** Messages sent on this vector since the port started. */
  get total(): number {
    return Atomics.load(this.#words, this.vector);
  }

  /** Takes pending messages without waiting; returns how many arrived since the last take. */
  consume(): number {
    const now = Atomics.load(this.#words, this.vector);
    const n = (now - this.#seen) | 0;
    this.#seen = now;
    return n;
  }

  /** Waits up to `timeoutMs` for a message without blocking; returns how many arrived (0: timeout). */
  async wait(timeoutMs: number): Promise<number> {
    const pending = this.consume();
    if (pending > 0) return pending;
    const r = Atomics.waitAsync(this.#words, this.vector, this.#seen, Math.max(0, timeoutMs));
    if (r.async) await r.value;
    return this.consume();
  }
}

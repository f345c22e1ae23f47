/**
 * Receive interrupts, ixy-style: poll while traffic flows, sleep when a queue
 * stays empty — without ever blocking Deno's event loop.
 *
 * A polling driver burns a CPU core even when no frame arrives. Interrupts
 * fix that for idle queues, but cost far too much per frame under load, so
 * (like ixy's interrupt mode, and Linux's NAPI) we switch between the two:
 *
 *     polling ──(N empty polls)──> enable interrupt ──> poll once more
 *        ^                                                 │ empty
 *        │                                                 v
 *        └──── disable interrupt <──(interrupt)── sleep (await, event loop free)
 *
 * The "poll once more" step closes the lost-wakeup race: a frame that arrived
 * after our last poll but before the interrupt was enabled raised no
 * interrupt, and we would sleep with it in the ring. After enabling, any new
 * frame raises one — and a device interrupt that comes before we sleep is
 * remembered (eventfd counter, or the software 82599's shared counter), so
 * the sleep ends at once.
 *
 * Where interrupts come from ({@link InterruptVector}):
 *
 * - VFIO (src/vfio.ts): MSI-X vector i of the device is wired to an eventfd
 *   (VFIO_DEVICE_SET_IRQS); we wait with `poll(2)` on a helper thread (an FFI
 *   symbol marked `nonblocking`, which returns a Promise).
 * - The software 82599 (tools/sim82599/): the device worker bumps a shared
 *   Int32Array word per vector; we wait with `Atomics.waitAsync`.
 *
 * The device side — which register unmasks a queue's interrupt — is the
 * driver's ({@link IxyInterrupts}): EIMS/EIMC for ixgbe (82599 datasheet 7.3),
 * VRING_AVAIL_F_NO_INTERRUPT for virtio (virtio 1.1, section 2.6.7).
 *
 * @module
 */

import type { IxyDevice, IxyInterrupts } from "./device.ts";

/**
 * One interrupt vector as the driver waits for it; defined in src/device.ts
 * beside the `PciFunction` that hands the vectors out.
 */
export type { InterruptVector } from "./device.ts";

/** Options for {@link RxInterruptPolicy}. */
export interface RxInterruptPolicyOptions {
  /** Empty polls in a row before the interrupt is enabled (default 128). */
  emptyPolls?: number;
  /**
   * Longest sleep (default 100 ms): then the caller polls once and may sleep
   * again, so its own timers (statistics, `--seconds`) keep running.
   */
  timeoutMs?: number;
}

/**
 * ixy's interrupt policy for one receive queue. Call {@link onPoll} with the
 * result of every `rxBatch`; when it returns true, `await` {@link sleep}:
 *
 *     const irq = new RxInterruptPolicy(dev, 0);
 *     for (;;) {
 *       const n = dev.rxBatch(0, bufs, 32);
 *       // ... use the n frames ...
 *       if (irq.onPoll(n)) await irq.sleep();
 *     }
 *
 * On a device without {@link IxyDevice.interrupts} it never asks to sleep:
 * the loop is plain polling. Under load `onPoll` is a counter reset — the
 * packet rate is that of pure polling.
 */
export class RxInterruptPolicy {
  /** The receive queue. */
  readonly queueId: number;
  /** Times the loop went to sleep (an interrupt was enabled and the ring stayed empty). */
  sleeps = 0;
  /** Sleeps ended by an interrupt. */
  wakeups = 0;
  /** Sleeps ended by the timeout (no interrupt). */
  timeouts = 0;
  #irq: IxyInterrupts | undefined;
  #emptyPolls: number;
  #timeoutMs: number;
  #empty = 0;
  #armed = false;
  #sleeping: Promise<void> | undefined;

  /** A policy for queue `queueId` of `dev`; without `dev.interrupts` it only polls. */
  constructor(dev: IxyDevice, queueId: number, options: RxInterruptPolicyOptions = {}) {
    this.queueId = queueId;
    this.#irq = dev.interrupts;
    this.#emptyPolls = options.emptyPolls ?? 128;
    this.#timeoutMs = options.timeoutMs ?? 100;
  }

  /** Whether the device has interrupts (else this policy never sleeps). */
  get active(): boolean {
    return this.#irq !== undefined;
  }

  /** Whether the queue's interrupt is enabled right now. */
  get armed(): boolean {
    return this.#armed;
  }

  /**
   * Records the result of one `rxBatch`; returns true when the caller should
   * `await sleep()` before polling again. The step before that enables the
   * interrupt and returns false, so the caller looks at the ring once more.
   */
  onPoll(received: number): boolean {
    if (received > 0) {
      this.#empty = 0;
      if (this.#armed) this.#disarm(); // traffic again: poll, no interrupts
      return false;
    }
    if (this.#irq === undefined) return false;
    if (this.#armed) return true; // enabled and re-checked: still empty
    if (++this.#empty < this.#emptyPolls) return false;
    this.#irq.enable(this.queueId);
    this.#armed = true;
    return false;
  }

  /**
   * Sleeps until the queue's interrupt (then disables it: back to polling)
   * or the timeout (it stays enabled). Never blocks the event loop. A second
   * call while asleep returns the same Promise.
   */
  sleep(): Promise<void> {
    this.#sleeping ??= this.#sleep().finally(() => this.#sleeping = undefined);
    return this.#sleeping;
  }

  /** Disables the interrupt if it is enabled (call before closing the device). */
  stop(): void {
    if (this.#armed) this.#disarm();
  }

  /** Sleeps until any of `policies` is woken (or times out): for loops over several queues. */
  static sleepAny(policies: readonly RxInterruptPolicy[]): Promise<void> {
    return Promise.race(policies.map((p) => p.sleep()));
  }

  async #sleep(): Promise<void> {
    const irq = this.#irq;
    if (irq === undefined || !this.#armed) return;
    this.sleeps++;
    const fired = await irq.wait(this.queueId, this.#timeoutMs);
    if (fired) {
      this.wakeups++;
      if (this.#armed) this.#disarm();
    } else {
      this.timeouts++;
    }
  }

  #disarm(): void {
    this.#irq!.disable(this.queueId);
    this.#armed = false;
    this.#empty = 0;
  }
}

/** Clock ticks per second of /proc times (USER_HZ; 100 on every Linux we know). */
const USER_HZ = 100;

/**
 * CPU time this process has used so far, user + system, in seconds (fields
 * 14 and 15 of /proc/self/stat, in USER_HZ ticks, so 10 ms resolution).
 * All threads count: Deno's own, FFI helper threads, Workers.
 */
export function processCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  // The command name (field 2) may contain spaces: count fields after ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field 14 (utime) is fields[11].
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

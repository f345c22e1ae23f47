/**
 * Receive interrupts of the virtio-net device (legacy or modern transport):
 * one MSI-X vector for the receive queue, reached through VFIO (src/vfio.ts
 * enables MSI-X and wires the vector to an eventfd).
 *
 * Two switches, both from the virtio 1.1 spec:
 *
 * - The vector (section 4.1.5.1.2, "MSI-X Vector Configuration"; legacy
 *   registers at 0x14/0x16 of the I/O BAR while MSI-X is enabled, section
 *   4.1.4.8; modern: `msix_config` and `queue_msix_vector` of the common
 *   configuration, section 4.1.4.3): during queue setup the driver writes the receive queue's vector
 *   into queue_msix_vector and reads it back — the device answers
 *   VIRTIO_MSI_NO_VECTOR if it could not allocate it. Every other event
 *   (configuration, transmit, control) gets NO_VECTOR: no interrupt.
 * - Used-buffer notifications (section 2.6.7, "Used Buffer Notification
 *   Suppression"): while we poll, the available ring's flags carry
 *   VRING_AVAIL_F_NO_INTERRUPT; clearing it asks the device to interrupt
 *   after it adds to the used ring. Without VIRTIO_F_EVENT_IDX (we do not
 *   negotiate it) the flag is only a hint the device may ignore, so a
 *   spurious interrupt is possible (we wake, poll, and sleep again).
 *
 * @module
 */

import type { IxyInterrupts } from "../../src/device.ts";
import type { InterruptVector } from "../../src/interrupts.ts";
import { VRING_AVAIL_F_NO_INTERRUPT } from "./constants.ts";
import type { Virtqueue } from "./virtqueue.ts";

/** The receive queue's MSI-X interrupt of a virtio-net device. */
export class VirtioInterrupts implements IxyInterrupts {
  /** Interrupts taken so far. */
  count = 0;
  #rx: Virtqueue;
  #vector: InterruptVector;

  /** Interrupts of receive queue `rx`, whose MSI-X vector arrives at `vector`. */
  constructor(rx: Virtqueue, vector: InterruptVector) {
    this.#rx = rx;
    this.#vector = vector;
  }

  /**
   * Drops stale signals, then clears VRING_AVAIL_F_NO_INTERRUPT (section
   * 2.6.7). `Atomics.store` is sequentially consistent — a full barrier on
   * x86 — so the device sees the flag before we look at the used ring again
   * (the re-check of src/interrupts.ts; the device orders its used.idx write
   * before reading the flag, section 2.6.7.1).
   */
  enable(queueId: number): void {
    this.#check(queueId);
    this.#vector.consume();
    const avail = this.#rx.avail;
    Atomics.store(avail, 0, avail[0] & ~VRING_AVAIL_F_NO_INTERRUPT);
  }

  /** Sets VRING_AVAIL_F_NO_INTERRUPT again: we poll. */
  disable(queueId: number): void {
    this.#check(queueId);
    const avail = this.#rx.avail;
    Atomics.store(avail, 0, avail[0] | VRING_AVAIL_F_NO_INTERRUPT);
  }

  /** Waits for the receive vector without blocking the event loop; true if it fired. */
  async wait(queueId: number, timeoutMs: number): Promise<boolean> {
    this.#check(queueId);
    const n = await this.#vector.wait(timeoutMs);
    this.count += n;
    return n > 0;
  }

  #check(queueId: number): void {
    if (queueId !== 0) throw new RangeError(`Virtio has one RX queue; got queue ${queueId}.`);
  }
}

/**
 * When a guest-side receiver (rx_check.ts, rss_rx_check.ts) may stop before
 * its frame count: the test script creates the "sent file" once the kernel
 * peer has sent everything, and after that a ring idle for a second has
 * nothing more to give. e1000 and igb drop a frame that finds the ring full
 * (the 82540EM counts it in MPC, QEMU's igb nowhere), so waiting for every
 * frame meant waiting for the timeout: a minute per such run.
 *
 * @module
 */

/** Tells a receive loop, poll by poll, whether nothing more is coming. */
export class StopWhenIdle {
  readonly #sentFile: string | undefined;
  readonly #idleMs: number;
  #lastFrame = performance.now();
  #nextLook = 0;

  /**
   * @param sentFile the file the test script creates when the peer is done
   *   (undefined: never stop early)
   * @param idleMs how long the rings must have been idle after that
   */
  constructor(sentFile: string | undefined, idleMs = 1000) {
    this.#sentFile = sentFile;
    this.#idleMs = idleMs;
  }

  /** Call after each poll with the frames it took; true once the loop may stop. */
  done(got: number): boolean {
    const now = performance.now();
    if (got > 0) {
      this.#lastFrame = now;
      return false;
    }
    if (this.#sentFile === undefined || now < this.#nextLook) return false;
    this.#nextLook = now + 50; // a stat at most every 50 ms
    return now - this.#lastFrame >= this.#idleMs && exists(this.#sentFile);
  }
}

/** Whether `path` exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

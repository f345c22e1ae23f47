/**
 * Memory-mapped registers: the one place where the driver reads and writes
 * device registers through memory (an 82599's BAR0).
 *
 * A device register is not memory: reading it twice can give two answers, and
 * a write has effects. C marks such pointers `volatile`. JavaScript has no
 * `volatile`, but `Atomics.load`/`Atomics.store` on a typed array are never
 * cached, merged or reordered by the JIT, so every call below becomes exactly
 * one 32-bit access on the bus (the 82599 requires 32-bit register accesses,
 * 82599 datasheet section 8.1 "Address Regions").
 *
 * @module
 */

import { IxyError } from "./error.ts";

/**
 * A space of 32-bit registers addressed by byte offset. Drivers program the
 * device only through this interface, so the same driver code runs on a real
 * BAR and on a register-level model of the device.
 */
export interface RegisterSpace {
  /** Reads the 32-bit register at byte `offset`. */
  read32(offset: number): number;
  /** Writes the 32-bit register at byte `offset`. */
  write32(offset: number, value: number): void;
}

/** Registers reached through a mapped BAR (or any memory shared with a device). */
export class MmioRegion implements RegisterSpace {
  #regs: Uint32Array;
  #bytes: Uint8Array;
  #halves: Uint16Array;

  /** Wraps mapped register memory; `buffer` must stay mapped while in use. */
  constructor(buffer: ArrayBufferLike) {
    this.#regs = new Uint32Array(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#halves = new Uint16Array(buffer);
  }

  /** Size of the region in bytes. */
  get byteLength(): number {
    return this.#regs.byteLength;
  }

  /** One 32-bit load from the device (never cached by the JIT). */
  read32(offset: number): number {
    return Atomics.load(this.#regs, offset >>> 2);
  }

  /** One 32-bit store to the device (never merged or reordered by the JIT). */
  write32(offset: number, value: number): void {
    Atomics.store(this.#regs, offset >>> 2, value);
  }

  /**
   * One 8-bit load. For devices whose registers have other widths (the
   * virtio 1.x structures: virtio 1.1 section 4.1.3.1 asks for 8-bit accesses
   * to 8-bit fields); the 82599 uses only {@link read32}.
   */
  read8(offset: number): number {
    return Atomics.load(this.#bytes, offset);
  }

  /** One 16-bit load (`offset` even). */
  read16(offset: number): number {
    return Atomics.load(this.#halves, offset >>> 1);
  }

  /** One 8-bit store. */
  write8(offset: number, value: number): void {
    Atomics.store(this.#bytes, offset, value);
  }

  /** One 16-bit store (`offset` even). */
  write16(offset: number, value: number): void {
    Atomics.store(this.#halves, offset >>> 1, value);
  }
}

/** Sets `flags` in a register (read-modify-write). */
export function setFlags32(regs: RegisterSpace, offset: number, flags: number): void {
  regs.write32(offset, (regs.read32(offset) | flags) >>> 0);
}

/** Clears `flags` in a register (read-modify-write). */
export function clearFlags32(regs: RegisterSpace, offset: number, flags: number): void {
  regs.write32(offset, (regs.read32(offset) & ~flags) >>> 0);
}

/** Options for waiting on a register bit. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 1000). */
  timeoutMs?: number;
  /** What we were waiting for, for the error message. */
  what?: string;
}

/**
 * Busy-waits (with 10 µs naps) until all `mask` bits of a register are set
 * (`set` true) or clear (`set` false); throws an {@link IxyError} on timeout.
 * Used only during initialisation, never on the packet path.
 */
export function waitForFlags32(
  regs: RegisterSpace,
  offset: number,
  mask: number,
  set: boolean,
  options: WaitOptions = {},
): void {
  const deadline = performance.now() + (options.timeoutMs ?? 1000);
  const want = set ? mask : 0;
  while (((regs.read32(offset) & mask) >>> 0) !== want >>> 0) {
    if (performance.now() > deadline) {
      const reg = `0x${offset.toString(16)}`;
      throw new IxyError(
        `Timed out waiting for ${options.what ?? `register ${reg}`}: bits 0x${
          (mask >>> 0).toString(16)
        } never became ${set ? "set" : "clear"}. Is the device alive?`,
      );
    }
    sleepMicros(10);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `us` microseconds (initialisation only). */
export function sleepMicros(us: number): void {
  Atomics.wait(sleepCell, 0, 0, us / 1000);
}

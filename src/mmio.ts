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
 * ## Memory ordering: what each step needs, and what provides it
 *
 * The rings live in DMA memory that our program and the device share. From
 * FFI (`Deno.UnsafePointerView.getArrayBuffer`) it is a plain, non-shared
 * ArrayBuffer; the ECMAScript memory model (ECMA-262 section 29) promises
 * ordering only for SharedArrayBuffers and only between agents it knows, so
 * it promises us nothing here. What we rely on is what V8 emits on x86-64,
 * checked for Deno 2.9.6 (V8 cannot print its machine code in Deno's release
 * build, so we read it from the running process: the address of the
 * `AtomicsStore` builtin from `--v8-flags=--perf-basic-prof`'s map file, the
 * bytes from /proc/PID/mem, disassembled with objdump):
 *
 * - `Atomics.store` on a Uint32Array (Uint16Array, Uint8Array) is `xchg`
 *   with memory (`xchg %r10d,(%r8,%rax,1)`): a locked instruction, a full
 *   fence on x86 (Intel SDM vol. 3, 8.2.2 and 8.2.5). `--trace-turbo` shows
 *   that optimised code calls that builtin for a non-shared typed array;
 *   where TurboFan inlines it (sequentially consistent store), its x64 code
 *   generator emits the same `xchg`.
 * - `Atomics.load` is a plain `mov` too, but on a non-shared array optimised
 *   code reaches it through a call to the `AtomicsLoad` builtin where a
 *   plain typed-array load is one instruction (a `perf` profile shows the
 *   builtin; docs/performance.md has what it costs). x86-TSO never reorders a load with an older load, nor a
 *   store with an older load, so every load is an acquire.
 * - Plain typed-array accesses are plain `mov`s. ECMAScript lets a JIT
 *   merge, drop or move them; V8 keeps each typed-array load on its effect
 *   chain, in program order (and emits x64 code in that order:
 *   `--turbo-instruction-scheduling` is off by default), once per loop
 *   iteration: a loop that does nothing but spin on a plain load sees
 *   another thread's store (tests/unit/plain_load_test.ts). A load of a
 *   word already loaded or stored in the same call, with no store or call
 *   in between, may be reused (load elimination is on): read each word the
 *   device writes once per look, as rxBatch does. The hot ring reads rely on that for
 *   their speed (ixgbe's DD loads, drivers/ixgbe/rx.ts). Stores that
 *   publish, and loads that must follow a store, still use Atomics: the
 *   xchg orders them, and the JIT never moves an access across the call.
 * - The registers (a BAR mapped from sysfs `resource0` or through VFIO) are
 *   uncached (UC) memory: accesses are neither combined nor reordered, and
 *   x86 keeps our earlier stores to ring memory before a store to them.
 *
 * | step (who needs it)                                                           | ordering    | provided by                                 |
 * |-------------------------------------------------------------------------------|-------------|---------------------------------------------|
 * | descriptor words, then virtio avail.idx (virtio 1.1, 2.6.13.3)                | store→store | `Atomics.store` of avail.idx (xchg); TSO     |
 * | descriptor words, then ixgbe RDT/TDT (82599 7.1.9, 7.2.3.3)                   | store→store | `write32` = `Atomics.store` (xchg, UC); TSO  |
 * | virtio avail.idx, then reading used.flags to decide on a notify (2.6.13.4)    | store→load  | the xchg of avail.idx: TSO alone lets a load pass an older store, a locked instruction does not |
 * | avail.idx, then the notify (I/O port `out` or MMIO store)                     | store→store | TSO; `out` is serialising                    |
 * | virtio used.idx, then the used ring entries it covers (2.6.14)                | load→load   | plain loads in program order (V8); TSO       |
 * | ixgbe write-back status (DD), then length and the other fields (7.1.6.2)      | load→load   | plain loads in program order (V8); TSO       |
 * | ixgbe TX DD / virtio used entry, then reusing the buffer (stores into it)     | load→store  | TSO                                          |
 *
 * Linux does the same on x86 with less: its `dma_wmb()`/`virt_wmb()` are
 * compiler barriers there and `virt_mb()` (the store→load case) a locked
 * instruction. On another architecture none of the above has been checked:
 * the drivers are for x86-64 only, and `ixyInit` (drivers/mod.ts,
 * `checkArchitecture`) refuses to start a NIC anywhere else. arm64 reorders
 * stores with stores; it would need barriers (Linux's `dma_wmb()` is a
 * `dmb oshst` there) that JavaScript cannot emit.
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

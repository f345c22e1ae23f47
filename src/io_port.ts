/**
 * Port I/O through sysfs: how a user-space program reaches an I/O-space BAR.
 *
 * Legacy ("transitional") virtio devices put their registers in I/O space
 * (virtio 1.1 spec, section 4.1.4.8 "Legacy Interfaces: A Note on PCI Device
 * Layout"). x86 reaches I/O space with `in`/`out` instructions, which a normal
 * process may not execute. Linux instead exposes the BAR as the file
 * `/sys/bus/pci/devices/<addr>/resource<N>`: a `pread`/`pwrite` of 1, 2 or 4
 * bytes at an offset becomes one `inb/inw/inl` or `outb/outw/outl` in the
 * kernel. Every access is a system call, so drivers keep them off the
 * per-packet path (one queue notification per batch).
 *
 * @module
 */

import { cString, LIBC, libc } from "./ffi.ts";
import { IxyError, sysError } from "./error.ts";

/** The largest register offset we pre-compute a `bigint` for (no allocation per access). */
const MAX_OFFSET = 256;

/** An I/O-space BAR opened through its sysfs `resource<N>` file. */
export class IoPortRegion {
  #fd: number;
  #path: string;
  // Scratch buffers: an access copies through these instead of allocating.
  #u8 = new Uint8Array(1);
  #u16 = new Uint16Array(1);
  #u32 = new Uint32Array(1);
  // FFI `i64` parameters are fastest as bigint (see ffi.ts); make them once.
  #offsets: bigint[] = Array.from({ length: MAX_OFFSET }, (_, i) => BigInt(i));
  #sizes: bigint[] = [0n, 1n, 2n, 0n, 4n];

  /** Opens `path` (a sysfs resource file of an I/O BAR) for reading and writing. */
  constructor(path: string) {
    this.#path = path;
    this.#fd = libc().open(cString(path), LIBC.O_RDWR | LIBC.O_CLOEXEC, 0);
    if (this.#fd < 0) {
      throw sysError(`Cannot open I/O BAR ${path}`, "Run as root (sudo).");
    }
  }

  /** Reads one byte at `offset`. */
  read8(offset: number): number {
    this.#access("read", this.#u8, offset);
    return this.#u8[0];
  }

  /** Reads a 16-bit little-endian value at `offset`. */
  read16(offset: number): number {
    this.#access("read", this.#u16, offset);
    return this.#u16[0];
  }

  /** Reads a 32-bit little-endian value at `offset`. */
  read32(offset: number): number {
    this.#access("read", this.#u32, offset);
    return this.#u32[0];
  }

  /** Writes one byte at `offset`. */
  write8(offset: number, value: number): void {
    this.#u8[0] = value;
    this.#access("write", this.#u8, offset);
  }

  /** Writes a 16-bit value at `offset`. */
  write16(offset: number, value: number): void {
    this.#u16[0] = value;
    this.#access("write", this.#u16, offset);
  }

  /** Writes a 32-bit value at `offset`. */
  write32(offset: number, value: number): void {
    this.#u32[0] = value;
    this.#access("write", this.#u32, offset);
  }

  /** Closes the file; further accesses fail. */
  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }

  #access(kind: "read" | "write", buf: Uint8Array | Uint16Array | Uint32Array, offset: number) {
    if (offset < 0 || offset >= MAX_OFFSET) {
      throw new IxyError(`I/O BAR offset ${offset} is outside 0..${MAX_OFFSET - 1}`);
    }
    const size = buf.byteLength;
    const done = kind === "read"
      ? libc().pread(this.#fd, buf, this.#sizes[size], this.#offsets[offset])
      : libc().pwrite(this.#fd, buf, this.#sizes[size], this.#offsets[offset]);
    if (Number(done) !== size) {
      throw sysError(`Cannot ${kind} ${size} byte(s) at offset ${offset} of ${this.#path}`);
    }
  }
}

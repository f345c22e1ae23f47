/**
 * Reading the rings from the side (the server thread of the ring viewer):
 * who owns each descriptor, where the pointers are, and one descriptor's
 * fields decoded with the datasheet's names. Pure functions over memory that
 * the device and the driver write — nothing here writes to it.
 *
 * Ownership, from the pointers (82599 datasheet 7.1.9 and 7.2.3.3; virtio
 * 1.1 section 2.6):
 *
 * - ixgbe RX: the device owns [RDH, RDT); [driver's next, RDH) are written
 *   back (DD) and wait for the driver's rxBatch; the rest are the driver's.
 * - ixgbe TX: the device owns [TDH, TDT) (queued, not yet sent); [driver's
 *   oldest uncleaned, TDH) are sent and wait for the driver to free their
 *   buffers; the rest are free.
 * - virtio: slots of the available ring. [used.idx, avail.idx) are available
 *   to the device; [driver's last used, used.idx) are used (written back) and
 *   wait for the driver; the rest are free.
 *
 * @module
 */

import type { DmaRegion, RingInfo, SharedMemory } from "./protocol.ts";

/** Owner codes, one character per descriptor: Device, Written back (waiting for the driver), Free. */
export const OWNER = { DEVICE: "D", WAITING: "W", FREE: "F" } as const;

/** Maps a {@link SharedMemory} to bytes (once per region: getArrayBuffer costs ~600 ns). */
export function mapMemory(m: SharedMemory): Uint8Array {
  if (m.kind === "shared") return new Uint8Array(m.buffer, m.offset, m.length);
  const pointer = Deno.UnsafePointer.create(m.address);
  if (pointer === null) throw new Error("null pointer for DMA memory");
  return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, m.length));
}

/** The pointers of a ring at one moment. */
export interface RingPointers {
  /** Device's position: RDH/TDH (ixgbe), used.idx (virtio). */
  head: number;
  /** Driver's doorbell: RDT/TDT (ixgbe), avail.idx (virtio). */
  tail: number;
  /** The driver's own index (see src/introspect.ts). */
  driver: number;
}

/** One ring as the server reads it. */
export class RingReader {
  readonly info: RingInfo;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  #regs?: Uint32Array;
  #halves?: Uint16Array;
  /** Buffer addresses seen in the read format, per descriptor: a write-back overwrites them. */
  readonly postedAddress: number[];
  /** TX: buffer lengths seen in the read format. */
  readonly postedLength: number[];

  constructor(info: RingInfo, registerFile?: Uint8Array) {
    this.info = info;
    this.bytes = mapMemory(info.memory);
    this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
    this.#halves = new Uint16Array(
      this.bytes.buffer,
      this.bytes.byteOffset,
      this.bytes.length >> 1,
    );
    if (registerFile) {
      this.#regs = new Uint32Array(
        registerFile.buffer,
        registerFile.byteOffset,
        registerFile.length >> 2,
      );
    }
    this.postedAddress = new Array(info.size).fill(-1);
    this.postedLength = new Array(info.size).fill(0);
  }

  /** True for virtio rings (slots of the available ring), false for ixgbe (descriptors). */
  get isVirtio(): boolean {
    return this.info.kind.startsWith("virtio");
  }

  /** Names of the head and tail pointers, as the datasheet / spec calls them. */
  get pointerNames(): { head: string; tail: string; driver: string } {
    const k = this.info.kind;
    if (k === "ixgbe-rx") return { head: "RDH", tail: "RDT", driver: "driver: next to receive" };
    if (k === "ixgbe-tx") return { head: "TDH", tail: "TDT", driver: "driver: next to clean" };
    return { head: "used.idx", tail: "avail.idx", driver: "driver: last used" };
  }

  /** Reads the pointers; `driver` comes from the application's published index. */
  pointers(driver: number): RingPointers | undefined {
    const v = this.info.virtqueue;
    if (v) {
      const h = this.#halves!;
      return {
        head: Atomics.load(h, (v.usedOffset + 2) >> 1),
        tail: Atomics.load(h, (v.availOffset + 2) >> 1),
        driver,
      };
    }
    const r = this.info.registers;
    if (!r || !this.#regs) return undefined;
    return { head: this.#regs[r.head >> 2], tail: this.#regs[r.tail >> 2], driver };
  }

  /** One owner code per descriptor (ixgbe) or available-ring slot (virtio). */
  owners(p: RingPointers): string {
    const size = this.info.size;
    const wrap = this.isVirtio ? 0xffff : size - 1;
    const mask = size - 1;
    // Counts along the ring: [driver, head) waiting, [head, tail) device.
    const waiting = Math.min((p.head - p.driver) & wrap, size);
    const device = Math.min((p.tail - p.head) & wrap, size - waiting);
    const out = new Array<string>(size).fill(OWNER.FREE);
    for (let k = 0; k < waiting; k++) out[(p.driver + k) & mask] = OWNER.WAITING;
    for (let k = 0; k < device; k++) out[(p.head + k) & mask] = OWNER.DEVICE;
    return out.join("");
  }

  /**
   * Remembers what the driver wrote into descriptors still in the read
   * format (ixgbe): the device's write-back overwrites the buffer address
   * (RX: 7.1.6.2; TX: the whole descriptor, 7.2.3.2.4).
   */
  rememberAddresses(): void {
    const w = this.words;
    if (this.info.kind === "ixgbe-rx") {
      for (let d = 0; d < this.info.size; d++) {
        if ((w[d * 4 + 2] & 1) === 0) this.postedAddress[d] = w[d * 4] + w[d * 4 + 1] * 2 ** 32;
      }
    } else if (this.info.kind === "ixgbe-tx") {
      for (let d = 0; d < this.info.size; d++) {
        if ((w[d * 4 + 3] & 1) === 0 && (w[d * 4 + 2] & 0xffff) !== 0) {
          this.postedAddress[d] = w[d * 4] + w[d * 4 + 1] * 2 ** 32;
          this.postedLength[d] = w[d * 4 + 2] & 0xffff;
        }
      }
    }
  }

  /** The raw 32-bit words of entry `d` (ixgbe: 4 words; virtio: desc 4 words + used 2 words). */
  raw(d: number): number[] {
    if (!this.isVirtio) return Array.from(this.words.subarray(d * 4, d * 4 + 4));
    const id = this.#availSlot(d);
    const v = this.info.virtqueue!;
    const used = (v.usedOffset + 4) / 4 + d * 2;
    return [
      ...Array.from(this.words.subarray(id * 4, id * 4 + 4)),
      this.words[used],
      this.words[used + 1],
    ];
  }

  #availSlot(d: number): number {
    const v = this.info.virtqueue!;
    return this.#halves![(v.availOffset >> 1) + 2 + d] & (this.info.size - 1);
  }

  /** Decodes entry `d`: fields with datasheet names, and where its packet is. */
  decode(d: number): DecodedDescriptor {
    const w = this.raw(d);
    const hex = (n: number, digits = 8) => "0x" + n.toString(16).padStart(digits, "0");
    const addr = (lo: number, hi: number) => lo + hi * 2 ** 32;
    const fields: Field[] = [];
    let buffer: DecodedDescriptor["buffer"];
    switch (this.info.kind) {
      case "ixgbe-rx": {
        const dd = (w[2] & 1) !== 0;
        if (!dd) {
          // 7.1.6.1 advanced receive descriptor, read format (written by the driver).
          const a = addr(w[0], w[1]);
          fields.push(
            {
              name: "Packet Buffer Address",
              bits: "63:0",
              value: hex(a, 12),
              note: "read format (7.1.6.1): written by the driver",
            },
            {
              name: "Header Buffer Address",
              bits: "127:64",
              value: hex(addr(w[2], w[3]), 12),
              note: "0 (one-buffer mode); bit 0 is DD after write-back",
            },
            {
              name: "DD",
              bits: "64",
              value: "0",
              note: "not yet written back: the device may still use it",
            },
          );
          buffer = { phys: a, length: 64, skip: 0, stale: true };
        } else {
          // 7.1.6.2 advanced receive descriptor, write-back format (written by the device).
          const len = w[3] & 0xffff;
          fields.push(
            {
              name: "Packet Info / Header Info",
              bits: "31:0",
              value: hex(w[0]),
              note: `write-back format (7.1.6.2): written by the device. RSS Type ${
                hex(w[0] & 0xf, 1)
              } (bits 3:0; 0 = no hash), Packet Type ${hex((w[0] >>> 4) & 0x1fff, 4)} (16:4)`,
            },
            {
              name: "RSS Hash / Fragment Checksum, IP id",
              bits: "63:32",
              value: hex(w[1]),
              note: "the RSS hash with RXCSUM.PCSD set, else checksum (31:16) and IP id (15:0)",
            },
            {
              name: "Extended Status",
              bits: "83:64",
              value: hex(w[2] & 0xfffff, 5),
              note: statusBits(w[2], RX_STATUS),
            },
            { name: "Extended Error", bits: "95:84", value: hex(w[2] >>> 20, 3) },
            {
              name: "PKT_LEN",
              bits: "111:96",
              value: String(len),
              note: "bytes the device wrote into the buffer",
            },
            { name: "VLAN Tag", bits: "127:112", value: hex(w[3] >>> 16, 4) },
          );
          const a = this.postedAddress[d];
          if (a >= 0) buffer = { phys: a, length: len, skip: 0 };
        }
        break;
      }
      case "ixgbe-tx": {
        if ((w[3] & 1) !== 0 && w[2] === 0) {
          // 7.2.3.2.4 write-back format: the device overwrote the descriptor
          // with DD (RS was set); only STA is left.
          fields.push(
            {
              name: "Reserved",
              bits: "95:0",
              value: hex(w[0]) + " " + hex(w[1]) + " " + hex(w[2]),
              note: "write-back format (7.2.3.2.4): written by the device",
            },
            {
              name: "STA",
              bits: "99:96",
              value: hex(w[3] & 0xf, 1),
              note: "DD: sent; the driver may free the buffer",
            },
          );
          const a = this.postedAddress[d];
          if (a >= 0) {
            fields.push({
              name: "Address (as the driver posted it)",
              bits: "63:0",
              value: hex(a, 12),
              note: "seen in an earlier snapshot",
            });
            buffer = { phys: a, length: this.postedLength[d], skip: 0 };
          }
          break;
        }
        // 7.2.3.2.4 advanced transmit data descriptor, read format (written by the driver).
        const a = addr(w[0], w[1]);
        const len = w[2] & 0xffff;
        fields.push(
          {
            name: "Address",
            bits: "63:0",
            value: hex(a, 12),
            note: "read format (7.2.3.2.4): the packet buffer, written by the driver",
          },
          {
            name: "DTALEN",
            bits: "79:64",
            value: String(len),
            note: "bytes to send from this buffer",
          },
          {
            name: "DTYP",
            bits: "87:84",
            value: hex((w[2] >>> 20) & 0xf, 1),
            note: ((w[2] >>> 20) & 0xf) === 3 ? "0011b: advanced data descriptor" : "",
          },
          {
            name: "DCMD",
            bits: "95:88",
            value: hex(w[2] >>> 24, 2),
            note: statusBits(w[2] >>> 24, TX_DCMD),
          },
          {
            name: "STA",
            bits: "99:96",
            value: hex(w[3] & 0xf, 1),
            note: (w[3] & 1)
              ? "DD"
              : "DD clear: not sent yet, or sent with its write-back held back (TXDCTL.WTHRESH, 7.2.3.5.1)",
          },
          { name: "PAYLEN", bits: "127:110", value: String(w[3] >>> 14) },
        );
        buffer = { phys: a, length: len, skip: 0 };
        break;
      }
      default: {
        // virtio 1.1 2.6.5 (struct virtq_desc) and 2.6.8 (struct virtq_used_elem).
        const id = this.#availSlot(d);
        const a = addr(w[0], w[1]);
        const flags = w[3] & 0xffff;
        const hdr = this.info.netHeaderBytes ?? 12;
        fields.push(
          {
            name: "avail.ring[slot]",
            bits: "u16",
            value: String(id),
            note: "the descriptor this slot makes available (2.6.6)",
          },
          {
            name: `desc[${id}].addr`,
            bits: "le64",
            value: hex(a, 12),
            note: "virtio_net_hdr, then the frame (5.1.6)",
          },
          { name: `desc[${id}].len`, bits: "le32", value: String(w[2]) },
          {
            name: `desc[${id}].flags`,
            bits: "le16",
            value: hex(flags, 4),
            note: statusBits(flags, VIRTQ_DESC_F) || "none: one device-readable buffer",
          },
          { name: `desc[${id}].next`, bits: "le16", value: String(w[3] >>> 16) },
          {
            name: "used.ring[slot].id",
            bits: "le32",
            value: String(w[4]),
            note: "written by the device (2.6.8)",
          },
          {
            name: "used.ring[slot].len",
            bits: "le32",
            value: String(w[5]),
            note: "bytes the device wrote (receive)",
          },
        );
        const length = this.info.kind === "virtio-rx" ? Math.max(0, w[5]) : w[2];
        buffer = { phys: a, length: Math.min(length, 2048), skip: hdr };
      }
    }
    return { ring: this.info.kind, index: d, raw: w.map((x) => hex(x)), fields, buffer };
  }
}

/** One decoded field. */
export interface Field {
  name: string;
  bits: string;
  value: string;
  note?: string;
}

/** A decoded descriptor. */
export interface DecodedDescriptor {
  ring: string;
  index: number;
  raw: string[];
  fields: Field[];
  /** Where its packet is: device address, bytes, bytes of virtio_net_hdr first. */
  buffer?: { phys: number; length: number; skip: number; stale?: boolean };
}

const RX_STATUS: [number, string][] = [[0x1, "DD"], [0x2, "EOP"], [0x8, "VP"], [0x10, "UDPCS"], [
  0x20,
  "L4I",
], [0x40, "IPCS"]];
const TX_DCMD: [number, string][] = [[0x01, "EOP"], [0x02, "IFCS"], [0x08, "RS"], [0x20, "DEXT"], [
  0x40,
  "VLE",
], [0x80, "TSE"]];
const VIRTQ_DESC_F: [number, string][] = [[0x1, "NEXT"], [0x2, "WRITE (device writes)"], [
  0x4,
  "INDIRECT",
]];

function statusBits(v: number, names: [number, string][]): string {
  return names.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n).join(" ");
}

/** Finds packet memory by device address. */
export class DmaMap {
  #regions: { phys: number; length: number; memory: SharedMemory; bytes?: Uint8Array }[];

  constructor(regions: DmaRegion[]) {
    this.#regions = regions.map((r) => ({
      phys: r.phys,
      length: r.memory.length,
      memory: r.memory,
    }))
      .sort((a, b) => a.phys - b.phys);
  }

  /** `length` bytes at device address `phys`, or undefined if we do not know that memory. */
  read(phys: number, length: number): Uint8Array | undefined {
    let lo = 0, hi = this.#regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.#regions[mid];
      if (phys < r.phys) hi = mid - 1;
      else if (phys >= r.phys + r.length) lo = mid + 1;
      else {
        if (phys + length > r.phys + r.length) return undefined;
        r.bytes ??= mapMemory(r.memory);
        return r.bytes.slice(phys - r.phys, phys - r.phys + length);
      }
    }
    return undefined;
  }
}

/** A marked range of a frame for the hex dump. */
export interface HeaderMark {
  name: string;
  start: number;
  end: number;
  fields: string;
}

/** Finds the virtio_net_hdr, Ethernet, IPv4 and UDP headers in `bytes` (after `skip` bytes). */
export function markHeaders(bytes: Uint8Array, skip: number): HeaderMark[] {
  const marks: HeaderMark[] = [];
  if (skip > 0) {
    marks.push({
      name: "virtio_net_hdr",
      start: 0,
      end: skip,
      fields: "flags, gso_type, hdr_len, gso_size, csum_start, csum_offset",
    });
  }
  const f = bytes.subarray(skip);
  if (f.length < 14) return marks;
  const mac = (o: number) =>
    Array.from(f.subarray(o, o + 6), (b) => b.toString(16).padStart(2, "0")).join(":");
  const type = (f[12] << 8) | f[13];
  marks.push({
    name: "Ethernet",
    start: skip,
    end: skip + 14,
    fields: `dst ${mac(0)} src ${mac(6)} type 0x${type.toString(16).padStart(4, "0")}`,
  });
  if (type !== 0x0800 || f.length < 34) return marks;
  const ihl = (f[14] & 0xf) * 4;
  const ip = (o: number) => Array.from(f.subarray(o, o + 4)).join(".");
  const proto = f[23];
  marks.push({
    name: "IPv4",
    start: skip + 14,
    end: skip + 14 + ihl,
    fields: `${ip(26)} → ${ip(30)} proto ${proto} total length ${(f[16] << 8) | f[17]}`,
  });
  const u = 14 + ihl;
  if (proto !== 17 || f.length < u + 8) return marks;
  marks.push({
    name: "UDP",
    start: skip + u,
    end: skip + u + 8,
    fields: `port ${(f[u] << 8) | f[u + 1]} → ${(f[u + 2] << 8) | f[u + 3]} length ${
      (f[u + 4] << 8) | f[u + 5]
    }`,
  });
  marks.push({ name: "payload", start: skip + u + 8, end: bytes.length, fields: "" });
  return marks;
}

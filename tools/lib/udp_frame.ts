/**
 * The test frame of ixy.ts: a UDP/IPv4 packet with a sequence number, and the
 * checks a receiver runs on it (the approach of ixy's own CI).
 *
 *     0  Ethernet  dst MAC, src MAC, type 0x0800                 14 bytes
 *     14 IPv4      version 4, IHL 5, TTL 64, UDP, checksum        20 bytes
 *     34 UDP       src port, dst port, length, checksum            8 bytes
 *                  (src port 42, or 42 + seq mod flows: see FrameOptions.flows)
 *     42 payload   "IXYT", sequence number (u32, big-endian),
 *                  then byte i = i & 0xff up to the frame end
 *
 * Addresses are from the benchmarking range 198.18.0.0/15 (RFC 2544), so the
 * frames can never be mistaken for real traffic. The minimum frame is 60
 * bytes (64 on the wire with the CRC the NIC appends).
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";

/** Offsets inside the frame. */
export const FRAME = {
  ETHERTYPE: 12,
  IP: 14,
  IP_CHECKSUM: 24,
  UDP: 34,
  UDP_CHECKSUM: 40,
  MAGIC: 42,
  SEQ: 46,
  PATTERN: 50,
} as const;

/** Type of {@link FRAME}. */
export type FRAME = typeof FRAME;

/** "IXYT" as a big-endian u32: marks our frames. */
export const FRAME_MAGIC = 0x49585954;
/** Smallest frame size (Ethernet minimum without CRC). */
export const MIN_FRAME_SIZE = 60;

/** Options for {@link buildFrame}. */
export interface FrameOptions {
  /** Frame size in bytes, without CRC (default 60). */
  size?: number;
  /** Destination MAC (default broadcast ff:ff:ff:ff:ff:ff). */
  dstMac?: Uint8Array;
  /** Source MAC (default 02:00:00:00:00:01, locally administered). */
  srcMac?: Uint8Array;
  /** Source IPv4 address (default 198.18.0.1). */
  srcIp?: string;
  /** Destination IPv4 address (default 198.18.0.2). */
  dstIp?: string;
  /**
   * Number of UDP flows (default 1): frame `seq` gets source port
   * {@link FRAME_SRC_PORT} + seq mod `flows`, so a NIC doing RSS spreads
   * the frames over its queues (tests/vm/igb_rss_test.ts). At most 1024.
   */
  flows?: number;
}

/** The UDP source port of flow 0 (and of every frame with one flow). */
export const FRAME_SRC_PORT = 42;
/** Most flows a template spreads over (source ports 42 .. 1065). */
export const MAX_FLOWS = 1024;

/** Parses `aa:bb:cc:dd:ee:ff`. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new IxyError(
      `Malformed MAC address "${text}": expected six hex pairs like 02:00:00:00:00:01.`,
    );
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

function parseIp(text: string): number[] {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new IxyError(`Malformed IPv4 address "${text}".`);
  }
  return parts;
}

/** Ones-complement sum of 16-bit big-endian words (RFC 1071), not yet inverted. */
export function onesSum(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) {
    sum += (bytes[i] << 8) | (i + 1 < end ? bytes[i + 1] : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** A template frame with sequence number 0 and both checksums right. */
export class FrameTemplate {
  /** The frame bytes (sequence number 0). */
  readonly bytes: Uint8Array;
  // The UDP checksum sum (before inversion) with sequence number 0; stamping
  // a number adds its two halves (incremental update, RFC 1624).
  #udpBaseSum: number;
  readonly #flows: number;

  /** Builds the template. */
  constructor(options: FrameOptions = {}) {
    const size = options.size ?? MIN_FRAME_SIZE;
    if (!Number.isInteger(size) || size < MIN_FRAME_SIZE) {
      throw new IxyError(
        `Frame size ${size} is too small: the minimum is ${MIN_FRAME_SIZE} bytes.`,
      );
    }
    const flows = options.flows ?? 1;
    if (!Number.isInteger(flows) || flows < 1 || flows > MAX_FLOWS) {
      throw new IxyError(`${flows} flows: use 1 to ${MAX_FLOWS} (one UDP source port each).`);
    }
    this.#flows = flows;
    const f = new Uint8Array(size);
    const v = new DataView(f.buffer);
    f.set(options.dstMac ?? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
    f.set(options.srcMac ?? [0x02, 0, 0, 0, 0, 0x01], 6);
    v.setUint16(FRAME.ETHERTYPE, 0x0800);
    const ip = FRAME.IP;
    f[ip] = 0x45; // IPv4, 5 × 4-byte header
    v.setUint16(ip + 2, size - ip); // total length
    f[ip + 8] = 64; // TTL
    f[ip + 9] = 17; // UDP
    f.set(parseIp(options.srcIp ?? "198.18.0.1"), ip + 12);
    f.set(parseIp(options.dstIp ?? "198.18.0.2"), ip + 16);
    v.setUint16(FRAME.IP_CHECKSUM, ~onesSum(f, ip, ip + 20) & 0xffff);
    const udp = FRAME.UDP;
    v.setUint16(udp, FRAME_SRC_PORT); // source port (flow 0)
    v.setUint16(udp + 2, 1337); // destination port
    v.setUint16(udp + 4, size - udp); // UDP length
    v.setUint32(FRAME.MAGIC, FRAME_MAGIC);
    for (let i = FRAME.PATTERN; i < size; i++) f[i] = i & 0xff;
    this.#udpBaseSum = udpSum(f);
    v.setUint16(FRAME.UDP_CHECKSUM, finishUdp(this.#udpBaseSum));
    this.bytes = f;
  }

  /**
   * Writes sequence number `seq` into a copy of this template in `data` and
   * fixes the UDP checksum: 6 byte stores, no loop over the payload. With
   * several flows also the source port of `seq`'s flow (2 stores more).
   */
  stamp(data: Uint8Array, seq: number): void {
    data[FRAME.SEQ] = seq >>> 24;
    data[FRAME.SEQ + 1] = (seq >>> 16) & 0xff;
    data[FRAME.SEQ + 2] = (seq >>> 8) & 0xff;
    data[FRAME.SEQ + 3] = seq & 0xff;
    let sum = this.#udpBaseSum + (seq >>> 16) + (seq & 0xffff);
    if (this.#flows > 1) {
      // The port word grows by the flow number, and so does the sum.
      const flow = seq % this.#flows;
      const port = FRAME_SRC_PORT + flow;
      data[FRAME.UDP] = port >>> 8;
      data[FRAME.UDP + 1] = port & 0xff;
      sum += flow;
    }
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    const csum = finishUdp(sum);
    data[FRAME.UDP_CHECKSUM] = csum >>> 8;
    data[FRAME.UDP_CHECKSUM + 1] = csum & 0xff;
  }
}

/** UDP sum over pseudo-header (addresses, protocol, length) and the UDP part. */
function udpSum(f: Uint8Array): number {
  const udpLength = f.length - FRAME.UDP;
  let sum = onesSum(f, FRAME.IP + 12, FRAME.IP + 20); // source and destination address
  sum += 17 + udpLength;
  const saved = [f[FRAME.UDP_CHECKSUM], f[FRAME.UDP_CHECKSUM + 1]];
  f[FRAME.UDP_CHECKSUM] = f[FRAME.UDP_CHECKSUM + 1] = 0;
  sum = onesSum(f, FRAME.UDP, f.length, sum);
  [f[FRAME.UDP_CHECKSUM], f[FRAME.UDP_CHECKSUM + 1]] = saved;
  return sum;
}

/** Inverts a sum into a UDP checksum; 0 is sent as 0xffff (RFC 768). */
function finishUdp(sum: number): number {
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

/** What {@link checkFrame} found. */
export type FrameCheck = { ok: true; seq: number } | { ok: false; reason: string };

/** Checks that `f` is one of our frames, intact; returns its sequence number. */
export function checkFrame(f: Uint8Array): FrameCheck {
  if (f.length < MIN_FRAME_SIZE) return { ok: false, reason: `short frame (${f.length} bytes)` };
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (v.getUint16(FRAME.ETHERTYPE) !== 0x0800) return { ok: false, reason: "not IPv4" };
  if (f[FRAME.IP] !== 0x45 || f[FRAME.IP + 9] !== 17) return { ok: false, reason: "not UDP/IPv4" };
  if (onesSum(f, FRAME.IP, FRAME.IP + 20) !== 0xffff) {
    return { ok: false, reason: "bad IPv4 checksum" };
  }
  const ipLength = v.getUint16(FRAME.IP + 2);
  if (FRAME.IP + ipLength > f.length) return { ok: false, reason: "IPv4 length beyond frame" };
  const end = FRAME.IP + ipLength;
  if (v.getUint32(FRAME.MAGIC) !== FRAME_MAGIC) return { ok: false, reason: "no IXYT magic" };
  const view = f.subarray(0, end);
  if (v.getUint16(FRAME.UDP_CHECKSUM) !== 0) {
    const sum = onesSum(view, FRAME.IP + 12, FRAME.IP + 20) + 17 + (end - FRAME.UDP);
    if (onesSum(view, FRAME.UDP, end, sum) !== 0xffff) {
      return { ok: false, reason: "bad UDP checksum" };
    }
  }
  for (let i = FRAME.PATTERN; i < end; i++) {
    if (f[i] !== (i & 0xff)) return { ok: false, reason: `payload corrupted at byte ${i}` };
  }
  return { ok: true, seq: v.getUint32(FRAME.SEQ) };
}

/** Tracks sequence numbers: count, range, duplicates, corrupt frames. */
export class SequenceChecker {
  /** Frames that passed {@link checkFrame}. */
  good = 0;
  /** Frames that failed it (other traffic or corruption). */
  bad = 0;
  /** Sequence numbers seen twice. */
  duplicates = 0;
  /** Sequence numbers at or above the expected count. */
  outOfRange = 0;
  /** Good frames whose sequence number was below the previous one. */
  reordered = 0;
  /** Frames that differ from the template (when one was given) in any byte. */
  mismatched = 0;
  /** Reasons of the first few bad frames. */
  readonly badReasons: string[] = [];
  /** The first few reorderings as "previous>current" sequence numbers. */
  readonly reorderSamples: string[] = [];
  #seen: Uint8Array;
  #last = -1;
  #template?: FrameTemplate;
  #scratch?: Uint8Array;

  /**
   * Expects sequence numbers `0 .. expected-1`. With a `template`, every frame
   * must also equal it byte for byte (with its sequence number stamped).
   */
  constructor(readonly expected: number, template?: FrameTemplate) {
    this.#seen = new Uint8Array(expected);
    this.#template = template;
    this.#scratch = template?.bytes.slice();
  }

  /** Checks one frame. */
  add(frame: Uint8Array): void {
    const r = checkFrame(frame);
    if (!r.ok) {
      this.bad++;
      if (this.badReasons.length < 5) this.badReasons.push(r.reason);
      return;
    }
    this.good++;
    if (this.#template && this.#scratch) {
      this.#template.stamp(this.#scratch, r.seq);
      const same = frame.length === this.#scratch.length &&
        frame.every((b, i) => b === this.#scratch![i]);
      if (!same) this.mismatched++;
    }
    if (r.seq >= this.expected) {
      this.outOfRange++;
      return;
    }
    if (this.#seen[r.seq]) this.duplicates++;
    this.#seen[r.seq] = 1;
    if (r.seq < this.#last) {
      this.reordered++;
      if (this.reorderSamples.length < 5) this.reorderSamples.push(`${this.#last}>${r.seq}`);
    }
    this.#last = r.seq;
  }

  /** How many distinct expected sequence numbers arrived. */
  get distinct(): number {
    let n = 0;
    for (const s of this.#seen) n += s;
    return n;
  }

  /** Every count as a plain object, for a tool's JSON result line. */
  counts(): {
    good: number;
    distinct: number;
    expected: number;
    bad: number;
    duplicates: number;
    outOfRange: number;
    reordered: number;
    mismatched: number;
    reorderSamples: string[];
    badReasons: string[];
  } {
    return {
      good: this.good,
      distinct: this.distinct,
      expected: this.expected,
      bad: this.bad,
      duplicates: this.duplicates,
      outOfRange: this.outOfRange,
      reordered: this.reordered,
      mismatched: this.mismatched,
      reorderSamples: this.reorderSamples,
      badReasons: this.badReasons,
    };
  }

  /** A one-line summary. */
  summary(): string {
    return `good=${this.good} distinct=${this.distinct}/${this.expected} bad=${this.bad} ` +
      `duplicates=${this.duplicates} outOfRange=${this.outOfRange} reordered=${this.reordered} ` +
      `mismatched=${this.mismatched}`;
  }
}

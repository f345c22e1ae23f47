/**
 * Receive-side scaling of a software 82599 port (datasheet rev. 3.3,
 * 7.1.2.8 "Receive-Side Scaling (RSS)"): which receive queue a frame goes
 * to, and what the advanced receive descriptor's write-back reports about
 * it (7.1.6.2).
 *
 * This is the device's side, written apart from the driver's helpers in
 * src/rss.ts on purpose: the simulator is the referee the driver and
 * src/rss.ts are checked against, so it shares none of their code. It reads
 * everything from the port's register file, as the chip does:
 *
 * - MRQC (8.2.3.7.12): bits 3:0 MRQE pick the queue assignment mode;
 *   0000b = one queue (queue 0), 0001b = RSS only. Bits 31:16 enable the
 *   hash types; this model hashes IPv4 (bit 17), TcpIPv4 (bit 16) and
 *   UdpIPv4 (bit 22).
 * - RSSRK[0..9] (8.2.3.7.14): the 40-byte secret key, register n holding
 *   key bytes 4n (bits 7:0) .. 4n+3 (bits 31:24).
 * - RETA[0..31] (8.2.3.7.15): 128 one-byte entries, entry 4n+i in bits
 *   8i+7:8i of register n; the queue ("RSS output index") is the entry's
 *   bits 3:0.
 * - RXCSUM.PCSD (8.2.3.7.5, bit 13): when set, dword 1 of the write-back
 *   carries the RSS hash; when clear, the fragment checksum (bits 31:16) and
 *   the IP identification (bits 15:0) instead, and no hash (7.1.6.2; the
 *   82598 datasheet says it in so many words: "RSS status field in the
 *   descriptor write-back is enabled when the RXCSUM.PCSD bit is set").
 *
 * What a frame gets (7.1.2.8.1): the parser finds Ethernet (with one 802.1Q
 * tag, EtherType 0x8100), then IPv4. An IPv4 packet that is no fragment and
 * carries TCP gets the TcpIPv4 hash if that type is enabled; else one with
 * UDP the UdpIPv4 hash if enabled; else any IPv4 packet the IPv4 hash if
 * enabled. The hash input is source address, destination address, and for
 * TCP/UDP source port, destination port, all as bytes in packet order
 * (7.1.2.8.1, "Input[12] = @12-15, @16-19, @20-21, @22-23"); the function is
 * Microsoft's Toeplitz hash under the RSSRK key. The queue is RETA[hash bits
 * 6:0] (7.1.2.8.2). A frame no enabled type matches (ARP, IPv6, ...) is not
 * hashed: RSS type 0, hash 0, RSS output index 0 — queue 0.
 *
 * The write-back (7.1.6.2): dword 0 bits 3:0 "RSS Type" (0x1 TcpIPv4, 0x2
 * IPv4, 0x7 UdpIPv4, 0 none), dword 1 the hash (with PCSD). Not modelled:
 * the packet type field (dword 0 bits 16:4, written 0), the fragment
 * checksum (written 0: it is 0 for unfragmented packets, and IPPCSE is not
 * modelled), IPv6 hashing, and the DCB / virtualisation modes of MRQE —
 * a driver that enables them is told (violations.ts), not silently served.
 *
 * @module
 */

/** MRQC, Multiple Receive Queues Command (8.2.3.7.12). */
export const MRQC = 0x0ec80;
/** RSSRK[0], first of the ten RSS Random Key registers (8.2.3.7.14). */
export const RSSRK0 = 0x0eb80;
/** RETA[0], first of the 32 Redirection Table registers (8.2.3.7.15). */
export const RETA0 = 0x0eb00;
/** RXCSUM, Receive Checksum Control (8.2.3.7.5). */
export const RXCSUM = 0x05000;
/** RXCSUM.PCSD (bit 13): RSS hash instead of fragment checksum / IP id in the write-back. */
export const RXCSUM_PCSD = 1 << 13;

/** MRQC.MRQE, bits 3:0, and its value "RSS only". */
export const MRQE_MASK = 0xf;
/** MRQE = 0001b: RSS, one pool, no DCB. */
export const MRQE_RSS = 0x1;
/** MRQC field enable: TcpIPv4 (bit 16). */
export const FIELD_TCP_IPV4 = 1 << 16;
/** MRQC field enable: IPv4 (bit 17). */
export const FIELD_IPV4 = 1 << 17;
/** MRQC field enable: UdpIPv4 (bit 22). */
export const FIELD_UDP_IPV4 = 1 << 22;
/** The field enables this model implements; the others (IPv6 ...) it reports. */
export const FIELDS_MODELLED = FIELD_TCP_IPV4 | FIELD_IPV4 | FIELD_UDP_IPV4;

/** RSS Type codes of the write-back (7.1.6.2). */
export const RSS_TYPE = { NONE: 0x0, TCP_IPV4: 0x1, IPV4: 0x2, UDP_IPV4: 0x7 } as const;

/** Where a frame goes and what its write-back says about it. */
export interface Steering {
  /** The receive queue. */
  queue: number;
  /** Write-back dword 0 (RSS type in bits 3:0). */
  wb0: number;
  /** Write-back dword 1 (RSS hash, or IP id / fragment checksum without PCSD). */
  wb1: number;
}

/**
 * The Toeplitz hash of `input[0..length)` under the 40-byte `key`, as
 * Microsoft's RSS specification defines it (also 82599 7.1.2.8.1): for every
 * input bit that is 1 — bit b of the input counted from the most significant
 * bit of byte 0 — the 32 key bits starting at key bit b are XORed into the
 * result. Here each such 32-bit key window is cut out of the key directly
 * (five key bytes around it), not slid along bit by bit as src/rss.ts does:
 * a second, independent reading of the same definition.
 */
export function toeplitz(key: Uint8Array, input: Uint8Array, length = input.length): number {
  let result = 0;
  for (let byte = 0; byte < length; byte++) {
    const v = input[byte];
    if (v === 0) continue;
    // Key bytes byte..byte+4 hold every window that starts in key byte `byte`.
    const hi = ((key[byte] << 24) | (key[byte + 1] << 16) | (key[byte + 2] << 8) |
      key[byte + 3]) >>> 0;
    const next = key[byte + 4] ?? 0;
    for (let bit = 0; bit < 8; bit++) {
      if ((v & (0x80 >> bit)) === 0) continue;
      // The window starting `bit` bits into key byte `byte`.
      const window = bit === 0 ? hi : ((hi << bit) | (next >>> (8 - bit))) >>> 0;
      result = (result ^ window) >>> 0;
    }
  }
  return result;
}

/** What the parser found in a frame: the hash type and its Toeplitz input. */
export interface HashInput {
  type: number;
  /** 8 (IPv4) or 12 (with ports) bytes. */
  bytes: Uint8Array;
}

/**
 * The hash input of `frame[0..length)` under the MRQC field enables
 * `fields`, or null when the frame matches no enabled type (7.1.2.8.1 and
 * its priority: TcpIPv4, then UdpIPv4, then IPv4). `out` is scratch space of
 * at least 12 bytes (its subarray is returned).
 */
export function hashInput(
  frame: Uint8Array,
  length: number,
  fields: number,
  out: Uint8Array,
): HashInput | null {
  const l3 = ipv4Offset(frame, length);
  if (l3 < 0) return null;
  const ihl = (frame[l3] & 0xf) * 4;
  // IPv4 header (RFC 791): flags and fragment offset in bytes 6-7 (MF =
  // 0x2000, offset 0x1fff), protocol in byte 9, source 12-15, destination 16-19.
  const fragment = (((frame[l3 + 6] << 8) | frame[l3 + 7]) & 0x3fff) !== 0;
  const proto = frame[l3 + 9];
  const l4 = l3 + ihl;
  for (let i = 0; i < 8; i++) out[i] = frame[l3 + 12 + i];
  // "A packet is identified as containing a TCP segment if ... the packet is
  // not fragmented" (7.1.2.8.1; the same for UDP): ports only from an
  // unfragmented packet whose L4 header is there.
  if (!fragment) {
    let type: number = RSS_TYPE.NONE;
    if ((fields & FIELD_TCP_IPV4) && proto === 6 && l4 + 20 <= length) type = RSS_TYPE.TCP_IPV4;
    else if ((fields & FIELD_UDP_IPV4) && proto === 17 && l4 + 8 <= length) {
      type = RSS_TYPE.UDP_IPV4;
    }
    if (type !== RSS_TYPE.NONE) {
      for (let i = 0; i < 4; i++) out[8 + i] = frame[l4 + i];
      return { type, bytes: out.subarray(0, 12) };
    }
  }
  if (fields & FIELD_IPV4) return { type: RSS_TYPE.IPV4, bytes: out.subarray(0, 8) };
  return null;
}

/**
 * Offset of the IPv4 header in an Ethernet frame (one 802.1Q tag allowed),
 * or -1 when the frame carries no complete IPv4 header.
 */
function ipv4Offset(frame: Uint8Array, length: number): number {
  let l3 = 14;
  let type = (frame[12] << 8) | frame[13];
  if (type === 0x8100) {
    l3 = 18;
    type = (frame[16] << 8) | frame[17];
  }
  if (type !== 0x0800 || length < l3 + 20) return -1;
  if (frame[l3] >> 4 !== 4 || (frame[l3] & 0xf) < 5) return -1;
  if (l3 + (frame[l3] & 0xf) * 4 > length) return -1;
  return l3;
}

/** The RSS unit of one port: reads MRQC, RSSRK, RETA and RXCSUM from its registers. */
export class RssUnit {
  #regs: Uint32Array;
  #key = new Uint8Array(40);
  #scratch = new Uint8Array(12);

  /** Works on the port's register file `regs` (words). */
  constructor(regs: Uint32Array) {
    this.#regs = regs;
  }

  /** True when MRQC.MRQE selects RSS. */
  get enabled(): boolean {
    return (this.#regs[MRQC >> 2] & MRQE_MASK) === MRQE_RSS;
  }

  /** The queue RETA entry `i` (0..127) names: bits 3:0 of byte i % 4 of RETA[i / 4]. */
  retaQueue(i: number): number {
    return (this.#regs[(RETA0 >> 2) + (i >> 2)] >>> (8 * (i & 3))) & 0xf;
  }

  /** True when some RETA entry names queue `q` (so RSS may direct frames to it). */
  retaNames(q: number): boolean {
    for (let i = 0; i < 128; i++) if (this.retaQueue(i) === q) return true;
    return false;
  }

  /** Where `frame[0..length)` goes and what its write-back carries. */
  steer(frame: Uint8Array, length: number, out: Steering): Steering {
    const r = this.#regs;
    const pcsd = (r[RXCSUM >> 2] & RXCSUM_PCSD) !== 0;
    let queue = 0;
    let type: number = RSS_TYPE.NONE;
    let hash = 0;
    if (this.enabled) {
      const what = hashInput(frame, length, r[MRQC >> 2], this.#scratch);
      if (what !== null) {
        hash = toeplitz(this.#keyFromRegisters(), what.bytes);
        type = what.type;
        queue = this.retaQueue(hash & 0x7f);
      }
    }
    out.queue = queue;
    if (pcsd) {
      out.wb0 = type;
      out.wb1 = hash;
    } else {
      // No hash reported (7.1.6.2): the IP identification in bits 15:0 and the
      // fragment checksum (0: not modelled) in 31:16.
      const l3 = ipv4Offset(frame, length);
      out.wb0 = 0;
      out.wb1 = l3 < 0 ? 0 : (frame[l3 + 4] << 8) | frame[l3 + 5];
    }
    return out;
  }

  /** The key as RSSRK[0..9] hold it: byte 4n + i in bits 8i+7:8i of RSSRK[n]. */
  #keyFromRegisters(): Uint8Array {
    const k = this.#key;
    for (let n = 0; n < 10; n++) {
      const w = this.#regs[(RSSRK0 >> 2) + n];
      k[4 * n] = w & 0xff;
      k[4 * n + 1] = (w >>> 8) & 0xff;
      k[4 * n + 2] = (w >>> 16) & 0xff;
      k[4 * n + 3] = w >>> 24;
    }
    return k;
  }
}

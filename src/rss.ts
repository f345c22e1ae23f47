/**
 * Receive-side scaling (RSS) in software: the Toeplitz hash the NIC computes
 * over each received frame, the queue it then picks, and the packing of the
 * key and the table into the NIC's registers.
 *
 * How a NIC with RSS picks a receive queue (82599 datasheet 7.1.2.8; the 82576
 * datasheet describes the same machine in its receive chapter, "Receive-Side
 * Scaling", and QEMU's igb model in hw/net/igb_core.c implements it):
 *
 * 1. It parses the frame: Ethernet (one 802.1Q tag allowed), IPv4, and TCP or
 *    UDP if the IPv4 packet is not a fragment. What it cannot parse gets no
 *    hash (hash 0, RSS type 0) and goes to queue 0.
 * 2. It concatenates source address, destination address and, for TCP/UDP,
 *    source port and destination port, in the byte order of the packet
 *    (82599 7.1.2.8.1: "Input[12] = @12-15, @16-19, @20-21, @22-23"), and
 *    hashes them with the Toeplitz function under a 40-byte secret key.
 * 3. The hash's seven least significant bits index a 128-entry redirection
 *    table (RETA), whose entry is the queue (82599 7.1.2.8.2).
 *
 * Which hash types the NIC may use is the MRQC register's choice (field
 * enables in bits 31:16); {@link RssFields} says the same in software. The
 * hash itself is written back into the receive descriptor, so a driver can
 * check the NIC against {@link rssClassify}.
 *
 * Sources: the function and the input layout are Microsoft's RSS specification
 * ("RSS hashing functions", learn.microsoft.com/windows-hardware/drivers/
 * network/rss-hashing-functions), repeated in 82599 7.1.2.8.1 and the 82576's
 * "RSS Hash Function"; the verification key and vectors are Microsoft's
 * "Verifying the RSS Hash Calculation" (the same table is 82599 7.1.2.8.3, "RSS
 * Verification Suite"). Register layouts are cited at each packing function.
 *
 * IPv6 is not modelled: the drivers enable only the IPv4 hash types, and with
 * those a NIC hashes no IPv6 frame either, so "not IPv4" means "no hash" here.
 *
 * Performance: none of this is on the packet path. The NIC computes the hash;
 * we compute it only to check the NIC (tests, lab checkers, the simulator), so
 * every function here is written for clarity — bit by bit, as the
 * specification states it — not speed.
 *
 * @module
 */

import { IxyError } from "./error.ts";

/** Length of the Toeplitz key in bytes: 320 bits (82599 7.1.2.8.1, RSSRK[0..9]). */
export const RSS_KEY_SIZE = 40;

/** Entries in the redirection table: 128 on the 82599 (7.1.2.8.2) and the 82576. */
export const RSS_RETA_SIZE = 128;

/** 32-bit registers that hold the key: RSSRK[0..9] (4 key bytes each). */
export const RSS_KEY_REGISTERS = RSS_KEY_SIZE / 4;

/** 32-bit registers that hold the redirection table: RETA[0..31] (4 entries each). */
export const RSS_RETA_REGISTERS = RSS_RETA_SIZE / 4;

/**
 * Largest queue index a redirection-table entry holds: 4 bits. 82599 RETA
 * (8.2.3.7.15) has a 4-bit index per 8-bit entry (Linux's ixgbe_store_reta:
 * "8 bit wide entries containing 4 bit RSS index"); QEMU's igb masks each
 * entry with 0x0F (E1000_RSS_QUEUE in hw/net/igb_regs.h).
 */
export const RSS_MAX_QUEUE = 15;

/**
 * The verification key of Microsoft's "Verifying the RSS Hash Calculation"
 * (also 82599 7.1.2.8.3), byte 0 first: its most significant bit is the
 * leftmost key bit. The published hashes (tests/unit/rss_test.ts) hold for
 * this key only. Shared: copy it (`RSS_DEFAULT_KEY.slice()`) before changing a
 * byte.
 */
export const RSS_DEFAULT_KEY: Uint8Array = hexBytes(
  "6d5a56da 255b0ec2 4167253d 43a38fb0 d0ca2bcb ae7b30b4 77cb2da3 8030f20c 6a42b73b beac01fa",
);

/** Bytes from hex digits, spaces ignored ("6d5a 56da" = 6d 5a 56 da). */
function hexBytes(text: string): Uint8Array {
  const digits = text.replaceAll(" ", "");
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * The Toeplitz hash of `input` under `key` (unsigned 32-bit).
 *
 * The specification's algorithm, literally: walk the input bits from the most
 * significant bit of byte 0 to the least significant bit of the last byte; keep
 * a 32-bit window on the key, starting at its leftmost 32 bits; for every input
 * bit that is 1, XOR the window into the result; after every input bit, slide
 * the window one bit to the right along the key (the datasheets say "shift K
 * left 1 bit position": the window takes in the next key bit).
 *
 * The key is 40 bytes, so the input can be at most 36 bytes (the last window
 * must still lie inside the key).
 */
export function toeplitzHash(key: Uint8Array, input: Uint8Array): number {
  if (key.length !== RSS_KEY_SIZE) {
    throw new IxyError(
      `RSS key is ${key.length} bytes, must be ${RSS_KEY_SIZE}. Pass a 40-byte key (RSS_DEFAULT_KEY).`,
    );
  }
  if (input.length > RSS_KEY_SIZE - 4) {
    throw new IxyError(
      `RSS hash input is ${input.length} bytes, at most ${RSS_KEY_SIZE - 4} fit a 40-byte key.`,
    );
  }
  const keyBit = (n: number) => (key[n >> 3] >> (7 - (n & 7))) & 1;
  // Window = key bits 0..31, bit 0 (the leftmost) in the window's bit 31.
  let window = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
  let result = 0;
  for (let n = 0; n < input.length * 8; n++) {
    const inputBit = (input[n >> 3] >> (7 - (n & 7))) & 1;
    if (inputBit === 1) result = (result ^ window) >>> 0;
    // Slide: drop the window's leftmost bit, take in key bit n + 32.
    window = ((window << 1) | keyBit(n + 32)) >>> 0;
  }
  return result;
}

/** An IPv4 address: dotted quad ("198.18.0.1") or its 4 bytes in network order. */
export type Ipv4Address = string | ArrayLike<number>;

/** The 4 bytes of an IPv4 address in network order (the order of the packet). */
function ipv4Bytes(address: Ipv4Address): number[] {
  let bytes: number[];
  if (typeof address === "string") {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
      throw new IxyError(
        `"${address}" is not an IPv4 address. Write it as four numbers: 198.18.0.1.`,
      );
    }
    bytes = address.split(".").map(Number);
  } else {
    bytes = Array.from(address);
  }
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new IxyError(
      `IPv4 address ${String(address)} is not 4 bytes of 0-255. Use e.g. "198.18.0.1".`,
    );
  }
  return bytes;
}

/** A port as its two bytes in network order (most significant first). */
function portBytes(port: number, which: string): number[] {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new IxyError(`${which} port ${port} is not a port number (0-65535).`);
  }
  return [port >> 8, port & 0xff];
}

/**
 * Hash input of an IPv4 packet without a usable TCP/UDP header: source address,
 * then destination address (82599 7.1.2.8.1 "Hash for IPv4 without TCP":
 * `Input[8] = @12-15, @16-19`, IPv4 header bytes 12-15 being the source).
 */
export function rssInputIpv4(src: Ipv4Address, dst: Ipv4Address): Uint8Array {
  return new Uint8Array([...ipv4Bytes(src), ...ipv4Bytes(dst)]);
}

/**
 * Hash input of IPv4 with TCP: source address, destination address, source
 * port, destination port, ports in network byte order (82599 7.1.2.8.1 "Hash
 * for IPv4 with TCP": `Input[12] = @12-15, @16-19, @20-21, @22-23`, offsets
 * counted from the IPv4 header, which has no options in the example).
 */
export function rssInputIpv4Tcp(
  src: Ipv4Address,
  dst: Ipv4Address,
  srcPort: number,
  dstPort: number,
): Uint8Array {
  return new Uint8Array([
    ...ipv4Bytes(src),
    ...ipv4Bytes(dst),
    ...portBytes(srcPort, "source"),
    ...portBytes(dstPort, "destination"),
  ]);
}

/**
 * Hash input of IPv4 with UDP: the same 12 bytes as TCP (82599 7.1.2.8.1 "Hash
 * for IPv4 with UDP" repeats the TCP layout; UDP hashing is an Intel addition
 * to Microsoft's specification, enabled by its own MRQC bit).
 */
export function rssInputIpv4Udp(
  src: Ipv4Address,
  dst: Ipv4Address,
  srcPort: number,
  dstPort: number,
): Uint8Array {
  return rssInputIpv4Tcp(src, dst, srcPort, dstPort);
}

/**
 * The queue RSS picks for `hash`: the redirection-table entry indexed by the
 * hash's seven least significant bits (82599 7.1.2.8.2: "indexed by the seven
 * LSB bits of the hash function output"; QEMU's igb: E1000_RETA_IDX(hash) =
 * hash & 0x7F). Not the high bits, not hash modulo the number of queues.
 */
export function rssQueue(hash: number, reta: ArrayLike<number>): number {
  checkRetaLength(reta.length);
  return reta[hash & 0x7f];
}

/**
 * A redirection table that spreads the hash space evenly over `queues` queues:
 * entry i is i mod `queues` (what Linux's ixgbe_setup_reta fills in).
 */
export function rssRetaFor(queues: number): Uint8Array {
  if (!Number.isInteger(queues) || queues < 1 || queues > RSS_MAX_QUEUE + 1) {
    throw new IxyError(
      `RSS over ${queues} queues: a redirection table can name 1 to ${RSS_MAX_QUEUE + 1} queues.`,
    );
  }
  const reta = new Uint8Array(RSS_RETA_SIZE);
  for (let i = 0; i < reta.length; i++) reta[i] = i % queues;
  return reta;
}

// ---------------------------------------------------------------------------
// Register packing. Both NICs take the key as ten 32-bit registers RSSRK[0..9]
// (82599 0x0EB80 + 4n, 8.2.3.7.14; 82576 0x05C80 + 4n) and the table as
// thirty-two 32-bit registers RETA[0..31] (82599 0x0EB00 + 4n, 8.2.3.7.15;
// 82576 0x05C00 + 4n). Both are little-endian within the register: byte k of
// the key / entry k of the table lives in register k / 4, bits 8(k % 4) up.

/**
 * The RSSRK[0..9] register values for `key`: register n holds key bytes 4n
 * (bits 7:0), 4n+1 (15:8), 4n+2 (23:16), 4n+3 (31:24), so the standard key
 * 6d 5a 56 da ... gives RSSRK[0] = 0xda565a6d, not 0x6d5a56da.
 *
 * Confirmed three ways, all for both NICs: DPDK's ixgbe and igb PMDs
 * (ixgbe_rss_configure / igb_rss_configure, drivers/net/ixgbe and
 * drivers/net/e1000) assemble each register from key bytes 4n..4n+3 lowest
 * first; Linux's e1000e, in the versions with a fixed key
 * (e1000e_setup_rss_hash's rsskey[]), writes exactly 0xda565a6d, 0xc20e5b25,
 * ... for this key, as does a copy of Intel's igb driver's igb_setup_mrqc; and
 * QEMU's igb hashes with the register file read as bytes on a little-endian
 * host (igb_rss_calc_hash passes `(uint8_t *) &core->mac[RSSRK]` as the key).
 */
export function rssKeyRegisters(key: Uint8Array): number[] {
  if (key.length !== RSS_KEY_SIZE) {
    throw new IxyError(
      `RSS key is ${key.length} bytes, must be ${RSS_KEY_SIZE} (ten RSSRK registers).`,
    );
  }
  const words: number[] = [];
  for (let n = 0; n < RSS_KEY_REGISTERS; n++) {
    const b = key.subarray(4 * n, 4 * n + 4);
    words.push((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0);
  }
  return words;
}

/** The key the NIC uses, read back from RSSRK[0..9] (inverse of {@link rssKeyRegisters}). */
export function rssKeyFromRegisters(words: ArrayLike<number>): Uint8Array {
  if (words.length !== RSS_KEY_REGISTERS) {
    throw new IxyError(
      `Got ${words.length} RSSRK values, need ${RSS_KEY_REGISTERS} (RSSRK[0..9]).`,
    );
  }
  const key = new Uint8Array(RSS_KEY_SIZE);
  for (let n = 0; n < RSS_KEY_REGISTERS; n++) {
    for (let i = 0; i < 4; i++) key[4 * n + i] = (words[n] >>> (8 * i)) & 0xff;
  }
  return key;
}

/**
 * The RETA[0..31] register values for a 128-entry table: register n holds
 * entries 4n (bits 7:0), 4n+1 (15:8), 4n+2 (23:16), 4n+3 (31:24), each entry
 * a queue index in its low bits (82599 8.2.3.7.15: 4 entries a register, a
 * 4-bit index in each byte's bits 3:0).
 *
 * Confirmed by Linux's ixgbe_store_reta (entry i shifted by (i & 3) * 8, one
 * write per four entries) and igb_write_rss_indir_tbl (entry i + 0 in the low
 * byte; no shift on the 82576 without virtual functions), DPDK's igb PMD
 * (bytes[i & 3] of a little-endian word), and QEMU's igb, which reads the
 * entry for a hash as byte (hash & 0x7F) of the RETA register file (the
 * E1000_RETA_VAL macro) and keeps its low 4 bits.
 */
export function rssRetaRegisters(reta: ArrayLike<number>): number[] {
  checkRetaLength(reta.length);
  const words: number[] = [];
  for (let n = 0; n < RSS_RETA_REGISTERS; n++) {
    let word = 0;
    for (let i = 0; i < 4; i++) {
      const entry = 4 * n + i;
      const queue = reta[entry];
      if (!Number.isInteger(queue) || queue < 0 || queue > RSS_MAX_QUEUE) {
        throw new IxyError(
          `Redirection table entry ${entry} is ${queue}: entries are queues 0-${RSS_MAX_QUEUE}.`,
        );
      }
      word |= queue << (8 * i);
    }
    words.push(word >>> 0);
  }
  return words;
}

/**
 * The table the NIC uses, read back from RETA[0..31] (inverse of
 * {@link rssRetaRegisters}): the 4-bit queue field of each entry, the reserved
 * upper bits dropped as the NIC drops them.
 */
export function rssRetaFromRegisters(words: ArrayLike<number>): Uint8Array {
  if (words.length !== RSS_RETA_REGISTERS) {
    throw new IxyError(
      `Got ${words.length} RETA values, need ${RSS_RETA_REGISTERS} (RETA[0..31]).`,
    );
  }
  const reta = new Uint8Array(RSS_RETA_SIZE);
  for (let n = 0; n < RSS_RETA_REGISTERS; n++) {
    for (let i = 0; i < 4; i++) reta[4 * n + i] = (words[n] >>> (8 * i)) & RSS_MAX_QUEUE;
  }
  return reta;
}

function checkRetaLength(length: number): void {
  if (length !== RSS_RETA_SIZE) {
    throw new IxyError(
      `Redirection table has ${length} entries, must have ${RSS_RETA_SIZE}. Build it with rssRetaFor().`,
    );
  }
}

// ---------------------------------------------------------------------------
// Frames: what the NIC hashes, and where it puts the frame.

/**
 * The hash types the NIC may use, as MRQC's field enables name them (82599
 * 8.2.3.7.12 MRQC bits 17 "IPv4", 16 "TcpIPv4", 22 "UdpIPv4"; the 82576's
 * MRQC has the same three bits at the same places).
 */
export interface RssFields {
  /** Hash IPv4 packets by their addresses (when no enabled L4 type applies). */
  ipv4?: boolean;
  /** Hash IPv4/TCP by addresses and ports. */
  ipv4Tcp?: boolean;
  /** Hash IPv4/UDP by addresses and ports. */
  ipv4Udp?: boolean;
}

/**
 * The RSS Type the NIC writes back into the receive descriptor (82599 7.1.6.2,
 * the advanced receive descriptor's write-back format; the 82576 and QEMU's igb
 * use the same codes, E1000_MRQ_RSS_TYPE_* in hw/net/igb_regs.h).
 */
export const RSS_TYPE = {
  /** No hash computed: RSS disabled, or the frame matched no enabled type. */
  NONE: 0x0,
  /** Hash over IPv4 addresses and TCP ports. */
  TCP_IPV4: 0x1,
  /** Hash over IPv4 addresses. */
  IPV4: 0x2,
  /** Hash over IPv4 addresses and UDP ports. */
  UDP_IPV4: 0x7,
} as const;

/** One of the {@link RSS_TYPE} codes. */
export type RssType = typeof RSS_TYPE[keyof typeof RSS_TYPE];

/** What the NIC hashes in a frame: the hash type and the input bytes. */
export interface RssInput {
  /** The type, as the descriptor write-back reports it. */
  type: RssType;
  /** The Toeplitz input: 8 bytes (IPv4) or 12 (IPv4 with ports). */
  input: Uint8Array;
}

/** What the NIC does with a frame under RSS. */
export interface RssResult {
  /** The hash type; {@link RSS_TYPE}.NONE if the frame is not hashed. */
  type: RssType;
  /** The hash the descriptor reports (0 when not hashed). */
  hash: number;
  /** The receive queue (0 when not hashed). */
  queue: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IP_PROTO_TCP = 6;
const IP_PROTO_UDP = 17;
const TCP_HEADER_MIN = 20;
const UDP_HEADER = 8;

/**
 * What the NIC would hash in an Ethernet `frame` (without CRC) when the hash
 * types in `fields` are enabled, or null if it hashes nothing — a frame that is
 * not IPv4 (ARP, IPv6, ...), or IPv4 of a type not enabled.
 *
 * Priority as in 82599 7.1.2.8.1 (and QEMU's igb_rss_get_hash_type): TCP if
 * enabled and the packet carries a whole TCP header, then UDP likewise, then
 * plain IPv4. A fragment (MF set or a fragment offset) is never hashed by
 * ports: only the first fragment has them. Addresses and ports are read from
 * the packet (source at IPv4 bytes 12-15, ports after the IPv4 header and its
 * options), so source and destination cannot be swapped by mistake.
 */
export function rssFrameInput(frame: Uint8Array, fields: RssFields): RssInput | null {
  let l3 = 14;
  if (frame.length < l3) return null;
  let ethertype = (frame[12] << 8) | frame[13];
  if (ethertype === ETHERTYPE_VLAN) {
    // One 802.1Q tag: TPID 0x8100, TCI, then the real EtherType (IEEE 802.1Q).
    l3 = 18;
    if (frame.length < l3) return null;
    ethertype = (frame[16] << 8) | frame[17];
  }
  if (ethertype !== ETHERTYPE_IPV4) return null;
  // IPv4 header (RFC 791 3.1): version/IHL, ..., flags/fragment offset at 6-7,
  // protocol at 9, source at 12-15, destination at 16-19.
  if (frame.length < l3 + 20 || frame[l3] >> 4 !== 4) return null;
  const headerLength = (frame[l3] & 0x0f) * 4;
  const src = frame.subarray(l3 + 12, l3 + 16);
  const dst = frame.subarray(l3 + 16, l3 + 20);
  const flagsFragment = (frame[l3 + 6] << 8) | frame[l3 + 7];
  const fragment = (flagsFragment & 0x2000) !== 0 || (flagsFragment & 0x1fff) !== 0;
  const protocol = frame[l3 + 9];
  const l4 = l3 + headerLength;
  if (!fragment && headerLength >= 20) {
    const ports = (): [number, number] => [
      (frame[l4] << 8) | frame[l4 + 1],
      (frame[l4 + 2] << 8) | frame[l4 + 3],
    ];
    if (fields.ipv4Tcp && protocol === IP_PROTO_TCP && frame.length >= l4 + TCP_HEADER_MIN) {
      const [sp, dp] = ports();
      return { type: RSS_TYPE.TCP_IPV4, input: rssInputIpv4Tcp(src, dst, sp, dp) };
    }
    if (fields.ipv4Udp && protocol === IP_PROTO_UDP && frame.length >= l4 + UDP_HEADER) {
      const [sp, dp] = ports();
      return { type: RSS_TYPE.UDP_IPV4, input: rssInputIpv4Udp(src, dst, sp, dp) };
    }
  }
  if (fields.ipv4) return { type: RSS_TYPE.IPV4, input: rssInputIpv4(src, dst) };
  return null;
}

/**
 * Where a NIC with RSS on puts `frame`: the hash type and hash it writes back,
 * and the queue. A frame it does not hash gets type NONE, hash 0 and queue 0
 * (82599 7.1.2.8: packets RSS cannot parse get RSS output index 0; QEMU's
 * igb_rss_parse_packet sets hash and queue to 0 for them), whatever the table
 * says.
 */
export function rssClassify(
  key: Uint8Array,
  reta: ArrayLike<number>,
  frame: Uint8Array,
  fields: RssFields,
): RssResult {
  checkRetaLength(reta.length);
  const what = rssFrameInput(frame, fields);
  if (what === null) return { type: RSS_TYPE.NONE, hash: 0, queue: 0 };
  const hash = toeplitzHash(key, what.input);
  return { type: what.type, hash, queue: rssQueue(hash, reta) };
}

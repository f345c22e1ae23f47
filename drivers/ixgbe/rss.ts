/**
 * Receive-side scaling on the 82599: with more than one receive queue, the
 * NIC hashes each frame's addresses (and TCP/UDP ports) with the Toeplitz
 * function and lets the hash pick the queue, so that every flow stays on one
 * queue and the queues share the load (datasheet 7.1.2.8, "Receive-Side
 * Scaling (RSS)"). src/rss.ts explains the machine and computes the same
 * hash in software; this file only programs it.
 *
 * Called once from bring-up (ixgbe.ts, #initRx) while receive is still off
 * (RXCTRL.RXEN clear: 8.2.3.7.1 asks for receive off while receive filters
 * change). 4.6.10.1.1 ("Global Filtering and Offload Capabilities") says that
 * in RSS mode the key (RSSRK) and the redirection table (RETA) are to be
 * programmed; with RXCSUM and MRQC that makes four steps:
 *
 * 1. The secret key: RSSRK[0..9] (8.2.3.7.14) from {@link RSS_DEFAULT_KEY},
 *    key byte 4n in bits 7:0 of RSSRK[n] ({@link rssKeyRegisters}).
 * 2. The redirection table: RETA[0..31] (8.2.3.7.15), 128 entries of which
 *    entry i names queue i mod n ({@link rssRetaFor}, packed 4 entries a
 *    register by {@link rssRetaRegisters}). The NIC indexes it with the
 *    hash's seven low bits (7.1.2.8.2).
 * 3. RXCSUM.PCSD (8.2.3.7.5): the write-back's dword 1 then carries the hash
 *    (else the fragment checksum and IP id, and the hash is lost, 7.1.6.2).
 * 4. MRQC (8.2.3.7.12): MRQE = 0001b "RSS only", with the hash types IPv4,
 *    TcpIPv4 and UdpIPv4 (the ones src/rss.ts models; IPv6 frames then get no
 *    hash and go to queue 0).
 *
 * A RETA entry has 4 bits (8.2.3.7.15): RSS spreads over at most 16 queues.
 * With more, queues 16 and up get no RSS traffic.
 *
 * The 82576 (drivers/igb) has the same four registers with the same layout
 * and the same hash-type bits, at other offsets, and another code for "RSS
 * only" in MRQC: {@link setupRss} takes the chip's {@link RssRegisterMap}
 * (this chip's is {@link IXGBE_RSS_MAP}; the 82576's is drivers/igb/rss.ts's
 * `IGB_RSS_MAP`).
 *
 * The default key is the published verification key: fine for spreading
 * test traffic, but anyone who knows it can aim many flows at one queue. A
 * driver facing untrusted senders would draw a random key (and the tests
 * would read it back from RSSRK, as tests/sim/rss_sim_test.ts does).
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import { setFlags32 } from "../../src/mmio.ts";
import {
  RSS_DEFAULT_KEY,
  RSS_MAX_QUEUE,
  rssKeyRegisters,
  rssRetaFor,
  rssRetaRegisters,
} from "../../src/rss.ts";
import {
  IXGBE_MRQC,
  IXGBE_MRQC_BITS,
  IXGBE_RETA,
  IXGBE_RSSRK,
  IXGBE_RXCSUM,
  IXGBE_RXCSUM_BITS,
} from "./constants.ts";

/** Where a NIC keeps its RSS registers, and what it wants in MRQC. */
export interface RssRegisterMap {
  /** Offset of key register RSSRK[n], n = 0..9. */
  rssrk(n: number): number;
  /** Offset of redirection-table register RETA[n], n = 0..31. */
  reta(n: number): number;
  /** Offset of RXCSUM, and its PCSD bit (the hash in the write-back's dword 1). */
  readonly rxcsum: { readonly offset: number; readonly pcsd: number };
  /** Offset of MRQC, and the value to write: "RSS only" with the IPv4, TcpIPv4, UdpIPv4 hash types. */
  readonly mrqc: { readonly offset: number; readonly value: number };
}

/** The 82599's RSS registers (8.2.3.7.5, 8.2.3.7.12, 8.2.3.7.14-15): the default of {@link setupRss}. */
export const IXGBE_RSS_MAP: RssRegisterMap = {
  rssrk: IXGBE_RSSRK,
  reta: IXGBE_RETA,
  rxcsum: { offset: IXGBE_RXCSUM, pcsd: IXGBE_RXCSUM_BITS.PCSD },
  // MRQE = 0001b "RSS only" (8.2.3.7.12), hash IPv4, IPv4/TCP, IPv4/UDP.
  mrqc: {
    offset: IXGBE_MRQC,
    value: (IXGBE_MRQC_BITS.MRQE_RSS | IXGBE_MRQC_BITS.RSS_FIELD_IPV4 |
      IXGBE_MRQC_BITS.RSS_FIELD_IPV4_TCP | IXGBE_MRQC_BITS.RSS_FIELD_IPV4_UDP) >>> 0,
  },
};

/** What {@link setupRss} programmed. */
export interface IxgbeRssConfig {
  /** The 40-byte Toeplitz key (RSSRK). */
  readonly key: Uint8Array;
  /** The 128-entry redirection table (RETA): entry i is a queue. */
  readonly reta: Uint8Array;
  /** The MRQC value written. */
  readonly mrqc: number;
}

/**
 * Programs RSS over receive queues 0..`queues`-1 (at most 16 of them: see the
 * module comment) as described above, at the registers of `map` (default: the
 * 82599's); returns what it wrote.
 */
export function setupRss(
  regs: RegisterSpace,
  queues: number,
  map: RssRegisterMap = IXGBE_RSS_MAP,
): IxgbeRssConfig {
  const key = RSS_DEFAULT_KEY.slice();
  const reta = rssRetaFor(Math.min(queues, RSS_MAX_QUEUE + 1));
  // 1. RSSRK[0..9] (8.2.3.7.14).
  rssKeyRegisters(key).forEach((word, n) => regs.write32(map.rssrk(n), word));
  // 2. RETA[0..31] (8.2.3.7.15).
  rssRetaRegisters(reta).forEach((word, n) => regs.write32(map.reta(n), word));
  // 3. RXCSUM.PCSD (8.2.3.7.5): report the hash, not the fragment checksum.
  setFlags32(regs, map.rxcsum.offset, map.rxcsum.pcsd);
  // 4. MRQC (8.2.3.7.12): RSS only, hash IPv4, IPv4/TCP, IPv4/UDP. Last, so
  // the NIC never hashes with a half-written key or table.
  const mrqc = map.mrqc.value;
  regs.write32(map.mrqc.offset, mrqc);
  return { key, reta, mrqc };
}

/**
 * The receive ring of advanced descriptors: the code `IxgbeDevice.rxBatch`
 * and `IgbDevice.rxBatch` run, and the reference solution of lab 4 — the lab
 * checker (`deno task lab 4`) runs this very file, so a student's `rxBatch`
 * plugs into the same place.
 *
 * The 82576 (drivers/igb) reads and writes the same 16-byte descriptor as the
 * 82599 (82576 datasheet 7.1.5; the 82599's 7.1.6): buffer address in words
 * 0-1, status with DD (bit 0) and EOP (bit 1) in word 2, length in word 3
 * bits 15:0. Two things differ, and the ring holds them as state set once
 * when it is made: where its tail register RDT is (`tail`), and which
 * status/error bit means "received with an error" (`errorBits`: RXE, 82599
 * bit 29, 82576 bit 31).
 *
 * The device writes a frame into the buffer of the descriptor at RDH and
 * writes the descriptor back with length, DD and EOP (7.1.6.2); it may use
 * descriptors up to RDT - 1 (7.1.9). We take each written-back descriptor,
 * give it a fresh buffer at once (7.1.6.1 read format), and return them all
 * to the device with one RDT write per batch.
 *
 * @module
 */

import type { RegisterSpace } from "../../src/mmio.ts";
import type { Mempool, PktBuf } from "../../src/mempool.ts";
import { IXGBE_ADV_RX_DESC, IXGBE_RXDADV_RSS, IXGBE_RXDADV_STAT } from "./constants.ts";

// The descriptor's words (7.1.6.1 read format, 7.1.6.2 write-back) and its
// status bits, as constants of this module. JavaScript note: V8 (Deno
// 2.9.6) compiles `IXGBE_RXDADV_STAT.DD` of an imported object into five
// steps on every use (load the import's cell, check it is initialised, check
// the object's map, load the field, untag it); a `const` of this module
// holding a number becomes an immediate in the code, like C's #define
// (what that bought: docs/performance.md, change 8).
const { PKT_ADDR_LO, PKT_ADDR_HI, HDR_ADDR_LO, HDR_ADDR_HI, WB_STATUS_ERROR, WB_LENGTH } =
  IXGBE_ADV_RX_DESC;
const { DD, EOP } = IXGBE_RXDADV_STAT;
const { WB_PKT_INFO, WB_RSS_HASH, RSSTYPE_MASK } = IXGBE_RXDADV_RSS;

/**
 * RXE of the 82599's receive write-back: bit 29 of the status/error word
 * (extended error field, 7.1.6.2), a MAC error (CRC, length, undersize,
 * oversize, symbol). The `errorBits` of the 82599's rings.
 */
export const IXGBE_RX_ERROR_BITS = IXGBE_RXDADV_STAT.RXE;

/**
 * One receive queue of advanced descriptors (the lab 4 contract,
 * tools/lab/contract.ts). At the start every descriptor points at a buffer of
 * `pool` (read format), `bufs[i]` is that buffer, and RDT = size - 1: the
 * device may fill descriptors 0 .. size - 2.
 */
export interface RxRing {
  /** BAR0 of the port: write the tail with `regs.write32(tail, ...)`. */
  readonly regs: RegisterSpace;
  /** The queue number. */
  readonly queueId: number;
  /**
   * Offset of this queue's tail register RDT in `regs`: `IXGBE_RDT(queueId)`
   * on an 82599 (8.2.3.8.5), `IGB_RDT(queueId)` on an 82576.
   */
  readonly tail: number;
  /**
   * The bits of the write-back's status/error word (word 2) that mark a
   * frame received with an error, to be dropped: RXE, bit 29 on the 82599
   * ({@link IXGBE_RX_ERROR_BITS}, 7.1.6.2), bit 31 on the 82576 (82576
   * datasheet 7.1.5.2, where bit 29 is TCPE, a checksum error).
   */
  readonly errorBits: number;
  /** The descriptors, 4 words each: descriptor i is `desc[4 * i .. 4 * i + 3]`. */
  readonly desc: Uint32Array;
  /** Number of descriptors, a power of two. */
  readonly size: number;
  /** Where fresh receive buffers come from. */
  readonly pool: Mempool;
  /** The buffer behind each descriptor. */
  readonly bufs: (PktBuf | undefined)[];
  /** Next descriptor to look at. Starts at 0. */
  index: number;
  /** True while the rest of a frame spread over descriptors is skipped. Starts false. */
  discarding: boolean;
  /** Frames dropped as malformed (see {@link rxBatch}). Starts at 0. */
  errors: number;
}

/** The driver's receive queue: an {@link RxRing} over ring memory it allocated. */
export class RxQueue implements RxRing {
  readonly regs: RegisterSpace;
  readonly queueId: number;
  readonly tail: number;
  readonly errorBits: number;
  readonly desc: Uint32Array;
  readonly size: number;
  readonly pool: Mempool;
  readonly bufs: (PktBuf | undefined)[];
  index = 0;
  discarding = false;
  errors = 0;

  /**
   * Queue `queueId` over `desc` (`size` descriptors), buffers from `pool`,
   * its tail register at `tail` in `regs`, `errorBits` as {@link RxRing}
   * says (82599: `IXGBE_RDT(queueId)` and {@link IXGBE_RX_ERROR_BITS}).
   */
  constructor(
    regs: RegisterSpace,
    queueId: number,
    desc: Uint32Array,
    size: number,
    pool: Mempool,
    tail: number,
    errorBits: number,
  ) {
    this.regs = regs;
    this.queueId = queueId;
    this.tail = tail;
    this.errorBits = errorBits;
    this.desc = desc;
    this.size = size;
    this.pool = pool;
    this.bufs = new Array(size).fill(undefined);
  }
}

/** Points descriptor `d` of `q` at `buf` (7.1.6.1 read format); this also clears DD. */
export function post(q: RxRing, d: number, buf: PktBuf): void {
  const w = d * 4;
  // The address halves are split once per buffer (PktBuf.dataPhysLo).
  q.desc[w + PKT_ADDR_LO] = buf.dataPhysLo;
  q.desc[w + PKT_ADDR_HI] = buf.dataPhysHi;
  // Header address 0 (one-buffer mode); this word becomes the status on
  // write-back, so zeroing it clears DD.
  q.desc[w + HDR_ADDR_LO] = 0;
  q.desc[w + HDR_ADDR_HI] = 0;
  q.bufs[d] = buf;
}

/**
 * Receives up to `count` frames from `q` into `bufs[0..n)` and returns n;
 * each returned buffer has `size`, `rssHash` and `rssType` set (the last two
 * from the write-back: 0 unless the NIC did RSS) and belongs to the caller.
 *
 * Descriptors the device wrote back wrongly — a frame spread over several
 * descriptors (no EOP; we configured one buffer per frame), a frame with a
 * MAC error (RXE), or a length of 0 or beyond the buffer — are dropped
 * (counted in `q.errors`), never thrown; their buffers go back to the pool.
 */
export function rxBatch(q: RxRing, bufs: PktBuf[], count: number): number {
  const desc = q.desc;
  const mask = q.size - 1;
  // The status bits that decide whether we take a frame: EOP must be set and
  // the device's error bit (RXE) clear. Read from the ring once per call, so
  // the loop tests them in one AND and one compare with a register operand,
  // as it would an immediate (docs/performance.md, change 8).
  const dropStatus = EOP | q.errorBits;
  let index = q.index;
  let last = -1;
  let n = 0;
  while (n < count) {
    const w = index * 4;
    // The device writes this word last (7.1.6.2); the length below is read
    // after it (load→load). JavaScript note: a plain load, not
    // `Atomics.load`, which V8 (Deno 2.9.6) does not inline on a non-shared
    // array: a builtin call per packet. The plain load is just as
    // volatile here: V8 emits it in place, once per iteration, in program
    // order with the length load, and x86 keeps loads in order (src/mmio.ts,
    // "Memory ordering"). What that bought: docs/performance.md, change 4.
    const status = desc[w + WB_STATUS_ERROR];
    if ((status & DD) === 0) break;
    const fresh = q.pool.alloc();
    if (fresh === undefined) break; // the app holds every buffer: retry next call
    const buf = q.bufs[index]!;
    const length = desc[w + WB_LENGTH] & 0xffff;
    // RSS (82599 7.1.6.2; the 82576's 7.1.5.2 has the same two words): the
    // type in bits 3:0 of dword 0, the hash in dword 1 (RXCSUM.PCSD set, as
    // setupRss does). Read before post() overwrites both words with the
    // fresh buffer's address. Without a type, dword 1 is something else (the
    // IP id and fragment checksum): the hash is then 0. `| 0`: the signed
    // 32 bits (PktBuf.rssHash says why).
    const rssType = desc[w + WB_PKT_INFO] & RSSTYPE_MASK;
    const rssHash = rssType === 0 ? 0 : desc[w + WB_RSS_HASH] | 0;
    post(q, index, fresh);
    last = index;
    index = (index + 1) & mask;
    const eop = (status & EOP) !== 0;
    // Everything below comes from the device, so it is checked before use:
    // EOP (one buffer per frame), the error bit (`dropStatus`: RXE, a MAC
    // error; 82599 7.1.6.2, 82576 7.1.5.2), the length (16 bits, never more
    // than the buffer). The buffer itself is ours (q.bufs), never an address read from the descriptor.
    // Together one AND and two compares a packet: see docs/performance.md.
    if (
      q.discarding || (status & dropStatus) !== EOP || length === 0 ||
      length > buf.data.length
    ) {
      // Drop: the tail of a multi-descriptor frame, its head, a frame with
      // a MAC error, or a bad length.
      if (!q.discarding) q.errors++;
      q.discarding = !eop;
      q.pool.free(buf);
      continue;
    }
    buf.size = length;
    buf.rssHash = rssHash;
    buf.rssType = rssType;
    bufs[n++] = buf;
  }
  if (last >= 0) {
    // 7.1.9: the device may use descriptors up to RDT - 1; `last` is the
    // last one we refilled, so it stays ours until the next call.
    q.regs.write32(q.tail, last);
    q.index = index;
  }
  return n;
}

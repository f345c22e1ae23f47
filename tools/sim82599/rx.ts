/**
 * The receive path of a software 82599 port (datasheet rev. 3.3, 7.1): with
 * RXCTRL.RXEN, frames pass the L2 filter (7.1.1.1: RAL/RAH exact matches,
 * FCTRL.UPE/MPE/BAM; the multicast table is not modelled, so multicast
 * needs MPE) and go to queue 0, or with RSS (MRQC.MRQE = 0001b) to the
 * queue RSS picks (rss.ts, 7.1.2.8; the other pool/queue filters are not
 * modelled). The frame is written into the buffer(s) of the descriptors at
 * RDH of its queue (one buffer is SRRCTL.BSIZEPACKET KB; a buffer that size
 * would overrun its mempool buffer's data area is a violation), written back
 * with length, DD and EOP, and the RSS type and hash (or IP id) of rss.ts,
 * RDH advances. No free descriptor (RDH = RDT) or the queue disabled: with
 * the queue's SRRCTL.DROP_EN the frame is dropped and counted in the QPRDC
 * that RQSMR maps the queue to, otherwise it waits in the packet buffer
 * (RXPBSIZE[0] bytes, one FIFO for all queues) and when that is full, MPC[0]
 * counts it.
 * GPRC/GORC count a frame once it is stored (delivered or waiting); GORC
 * includes the CRC whether or not it is stripped (8.2.3.23.27); GPRC also
 * counts MPC's frames (erratum). The CRC is stripped when HLREG0.RXCRCSTRP
 * is set, else the model appends a real CRC-32.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import type { DmaSpace } from "./dma.ts";
import type { InterruptUnit } from "./interrupts.ts";
import {
  canonical,
  CRC_BYTES,
  MAX_FRAME,
  QUEUES,
  type Statistics,
  TWO_TO_32,
} from "./registers.ts";
import { type QueuePort, REG, type Ring, writeQueueRegister } from "./queues.ts";
import { RssUnit, type Steering } from "./rss.ts";
import type { Violations } from "./violations.ts";

/** A frame waiting in the packet buffer, with the queue and write-back RSS gave it on arrival. */
interface Waiting extends Steering {
  data: Uint8Array;
}

/** The receive queues, the L2 filter and the packet buffer of one port. */
export class RxPath {
  #regs: Uint32Array;
  #dma: DmaSpace;
  #check: Violations;
  #stats: Statistics;
  #irq: InterruptUnit;
  #queuePort: QueuePort;
  #rx: Ring[] = [];
  #filters: number[] = []; // pairs: RAL value, RAH & 0xffff
  #pbFrames: Waiting[] = [];
  #pbBytes = 0;
  #rss: RssUnit;
  #steering: Steering = { queue: 0, wb0: 0, wb1: 0 };
  #rxScratch = new Uint8Array(MAX_FRAME + CRC_BYTES);
  /** 1 once queue n's buffer size was reported as too large (rxBufferSize). */
  #bsizeReported = new Uint8Array(QUEUES);

  /** Works on the port's registers and counters; receive write-backs go to `irq`. */
  constructor(port: {
    regs: Uint32Array;
    dma: DmaSpace;
    check: Violations;
    stats: Statistics;
    irq: InterruptUnit;
  }) {
    this.#regs = port.regs;
    this.#dma = port.dma;
    this.#check = port.check;
    this.#stats = port.stats;
    this.#irq = port.irq;
    this.#queuePort = { regs: port.regs, check: port.check, dma: port.dma };
    this.#rss = new RssUnit(port.regs);
    for (let i = 0; i < QUEUES; i++) this.#rx.push({ enabled: false, slab: 0, word: 0, size: 0 });
  }

  /** Reset: every queue disabled, the packet buffer empty, filters as the registers say. */
  reset(): void {
    this.stop();
    this.updateFilters();
    this.#pbFrames = [];
    this.#pbBytes = 0;
    this.#bsizeReported.fill(0);
  }

  /** DMA stops at once (a reset begins). */
  stop(): void {
    for (const ring of this.#rx) ring.enabled = false;
  }

  /** A write to register `reg` (offset in the 0x40 block) of queue `q`. */
  writeQueue(q: number, write: { reg: number; value: number }): void {
    if (
      write.reg === REG.DCTL && !(write.value & C.IXGBE_RXDCTL_ENABLE) && this.#rx[q].enabled &&
      this.#rss.enabled && (this.#regs[C.IXGBE_RXCTRL >> 2] & C.IXGBE_RXCTRL_RXEN) &&
      this.#rss.retaNames(q)
    ) {
      this.#check.queueDisabledUnderRss(q);
    }
    writeQueueRegister(this.#queuePort, { dir: "RX", q, ring: this.#rx[q] }, write);
  }

  /** Re-reads the valid receive addresses (RAL/RAH) after one of them changed. */
  updateFilters(): void {
    const f: number[] = [];
    for (let i = 0; i < 128; i++) {
      const rah = this.#regs[(0x0a204 + 8 * i) >> 2];
      if (rah & C.IXGBE_RAH_AV) f.push(this.#regs[(0x0a200 + 8 * i) >> 2], rah & 0xffff);
    }
    this.#filters = f;
  }

  /** A frame (without CRC) arrives from the wire. */
  receiveFrame(frame: Uint8Array, length: number): void {
    const r = this.#regs;
    if (!(r[C.IXGBE_RXCTRL >> 2] & C.IXGBE_RXCTRL_RXEN)) return;
    if (!this.#accept(frame)) return;
    const s = this.#rss.steer(frame, length, this.#steering);
    if (this.#pbFrames.length === 0 && this.#deliver(frame, length, s)) {
      this.#countGood(length);
      return;
    }
    // No descriptor for it (7.1.9 / 8.2.3.8.7 DROP_EN): dropped, counted in
    // the QPRDC the queue is mapped to (RQSMR), not as a good packet.
    if (r[canonical(C.IXGBE_SRRCTL(s.queue)) >> 2] & C.IXGBE_SRRCTL_BITS.DROP_EN) {
      this.#stats.qprdc[statCounter(r, s.queue)]++;
      return;
    }
    const capacity = ((r[C.IXGBE_RXPBSIZE(0) >> 2] >>> 10) & 0x3ff) * 1024;
    if (this.#pbBytes + length > capacity) {
      // Packet buffer full: MPC (8.2.3.23.4). The erratum DPDK and Linux work
      // around ("GPRC counts good + missed packets"): GPRC counts it too,
      // GORC does not.
      this.#stats.mpc[0]++;
      this.#stats.gprc++;
      return;
    }
    // Stored in the packet buffer: received, as far as the counters go
    // (8.2.3.23: a packet need not reach host memory to count as received).
    this.#pbFrames.push({ data: frame.slice(0, length), queue: s.queue, wb0: s.wb0, wb1: s.wb1 });
    this.#pbBytes += length;
    this.#countGood(length);
  }

  /**
   * GPRC and GORC for a good frame of `length` bytes without CRC. GORC counts
   * from the destination address through the CRC (8.2.3.23.27), whether or
   * not HLREG0.RXCRCSTRP strips the CRC before it reaches host memory.
   */
  #countGood(length: number): void {
    this.#stats.gprc++;
    this.#stats.gorc += length + CRC_BYTES;
  }

  /** Moves frames waiting in the packet buffer to descriptors; returns how many. */
  receive(): number {
    let n = 0;
    while (this.#pbFrames.length > 0) {
      const f = this.#pbFrames[0];
      if (!this.#deliver(f.data, f.data.length, f)) break;
      this.#pbFrames.shift();
      this.#pbBytes -= f.data.length;
      n++;
    }
    return n;
  }

  /** The L2 filter of 7.1.1.1 (without the multicast table). */
  #accept(frame: Uint8Array): boolean {
    const fctrl = this.#regs[C.IXGBE_FCTRL >> 2];
    if (frame[0] & 1) {
      const broadcast = (frame[0] & frame[1] & frame[2] & frame[3] & frame[4] & frame[5]) === 0xff;
      if (broadcast) return (fctrl & (C.IXGBE_FCTRL_BITS.BAM | C.IXGBE_FCTRL_BITS.MPE)) !== 0;
      return (fctrl & C.IXGBE_FCTRL_BITS.MPE) !== 0;
    }
    if (fctrl & C.IXGBE_FCTRL_BITS.UPE) return true;
    const lo = (frame[0] | (frame[1] << 8) | (frame[2] << 16) | (frame[3] << 24)) >>> 0;
    const hi = frame[4] | (frame[5] << 8);
    const f = this.#filters;
    for (let i = 0; i < f.length; i += 2) if (f[i] === lo && f[i + 1] === hi) return true;
    return false;
  }

  /**
   * Writes a frame into the descriptors at RDH of the queue `s` names (queue
   * 0 without RSS), with its write-back dwords 0-1; false if there are too
   * few or the queue is disabled.
   */
  #deliver(frame: Uint8Array, length: number, s: Steering): boolean {
    const q = s.queue;
    const r = this.#regs;
    const ring = this.#rx[q];
    if (!ring.enabled) return false;
    const hIdx = C.IXGBE_RDH(q) >> 2;
    let head = r[hIdx];
    const tail = r[C.IXGBE_RDT(q) >> 2];
    const bsize = ((r[canonical(C.IXGBE_SRRCTL(q)) >> 2] & C.IXGBE_SRRCTL_BITS.BSIZEPKT_MASK) ||
      2) * 1024;
    let data = frame;
    let total = length;
    if (!(r[C.IXGBE_HLREG0 >> 2] & C.IXGBE_HLREG0_BITS.RXCRCSTRP)) {
      // CRC kept: append it (IEEE 802.3 CRC-32, least significant byte first).
      this.#rxScratch.set(frame.subarray(0, length));
      const crc = crc32(frame, length);
      for (let i = 0; i < 4; i++) this.#rxScratch[length + i] = (crc >>> (8 * i)) & 0xff;
      data = this.#rxScratch;
      total = length + CRC_BYTES;
    }
    const needed = Math.ceil(total / bsize);
    const free = (tail - head + ring.size) % ring.size;
    if (free < needed) return false;
    const desc = this.#dma.u32[ring.slab];
    const D = C.IXGBE_ADV_RX_DESC;
    for (let pos = 0; pos < total;) {
      const w = ring.word + head * 4;
      const addr = desc[w + D.PKT_ADDR_LO] + desc[w + D.PKT_ADDR_HI] * TWO_TO_32;
      const chunk = Math.min(bsize, total - pos);
      if (this.#bsizeReported[q] === 0 && !this.#check.rxBufferSize(head, q, addr, bsize)) {
        this.#bsizeReported[q] = 1; // once per queue and reset: the log stays readable
      }
      if (!this.#check.rxBuffer(head, q, addr, chunk)) {
        r[hIdx] = head;
        return true;
      }
      const off = this.#dma.offset;
      this.#dma.u8[this.#dma.slab].set(data.subarray(pos, pos + chunk), off);
      pos += chunk;
      // Write-back (7.1.6.2): RSS type (dword 0) and hash or IP id (dword 1;
      // rss.ts), in every descriptor of the frame; length, then status with
      // DD (and EOP) last.
      desc[w] = s.wb0;
      desc[w + 1] = s.wb1;
      desc[w + D.WB_LENGTH] = chunk;
      Atomics.store(
        desc,
        w + D.WB_STATUS_ERROR,
        C.IXGBE_RXDADV_STAT.DD | (pos === total ? C.IXGBE_RXDADV_STAT.EOP : 0),
      );
      head = head + 1 === ring.size ? 0 : head + 1;
    }
    r[hIdx] = head;
    this.#irq.rxWriteBack(q, performance.now());
    return true;
  }

  /**
   * Test hook (not a datasheet feature): writes back the next descriptor of
   * queue `q` as if a frame of `length` bytes arrived, with EOP or not, without
   * writing any data. Returns false when the queue has no free descriptor.
   */
  injectRxDescriptor(q: number, garbage: { length: number; eop: boolean }): boolean {
    const ring = this.#rx[q];
    if (ring === undefined || !ring.enabled) return false;
    const r = this.#regs;
    const hIdx = C.IXGBE_RDH(q) >> 2;
    const head = r[hIdx];
    if (head === r[C.IXGBE_RDT(q) >> 2]) return false;
    const desc = this.#dma.u32[ring.slab];
    const w = ring.word + head * 4;
    desc[w + C.IXGBE_ADV_RX_DESC.WB_LENGTH] = garbage.length & 0xffff;
    const status = C.IXGBE_RXDADV_STAT.DD | (garbage.eop ? C.IXGBE_RXDADV_STAT.EOP : 0);
    Atomics.store(desc, w + C.IXGBE_ADV_RX_DESC.WB_STATUS_ERROR, status);
    r[hIdx] = head + 1 === ring.size ? 0 : head + 1;
    this.#irq.rxWriteBack(q, performance.now());
    return true;
  }
}

/**
 * The statistics counter (0-15) receive queue `q` is mapped to: RQSMR[q / 4],
 * byte q % 4, bits 3:0 (RQSMR, with the statistics of 8.2.3.23: QPRC, QBRC, QPRDC are per
 * statistics counter, not per queue). All queues map to counter 0 after reset.
 */
function statCounter(r: Uint32Array, q: number): number {
  return (r[(RQSMR_BASE + 4 * (q >> 2)) >> 2] >>> (8 * (q & 3))) & 0xf;
}
/** RQSMR[0], Receive Queue Statistic Mapping (RQSMR[n] at 0x02300 + 4n, n = 0..31). */
const RQSMR_BASE = 0x02300;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** The Ethernet CRC-32 (reflected polynomial 0xEDB88320) of `bytes[0..length)`. */
function crc32(bytes: Uint8Array, length: number): number {
  let c = 0xffffffff;
  for (let i = 0; i < length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

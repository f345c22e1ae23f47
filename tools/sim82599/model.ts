/**
 * One port of the software 82599: its registers, its queues, its MAC. Runs
 * inside the device worker (worker.ts); nothing here touches the driver's
 * objects — only the register requests the driver posts and the DMA memory.
 * This file ties the parts together and holds reset and link; the parts are
 * registers.ts (register file, reset values, read-to-clear statistics),
 * queues.ts (ring registers), tx.ts, rx.ts, interrupts.ts, violations.ts
 * (the checks) and dma.ts (the DMA memory as the device sees it).
 *
 * What is modelled (datasheet sections of the Intel 82599 datasheet rev. 3.3):
 *
 * - Reset (4.6.3.2): CTRL.RST / CTRL.LRST start a reset that takes
 *   `resetDelayMs`; the bits read 1 until it is done and then clear
 *   themselves. All registers return to their reset values, EEC.ARD
 *   (8.2.3.2.1) and RDRXCTL.DMAIDONE (8.2.3.8.8) are set, RAL/RAH(0) hold the
 *   port's MAC as if loaded from the EEPROM; DMATXCTL.VT holds 0x8100
 *   (8.2.3.9.2). Any access within ~1 ms of setting CTRL.RST, CTRL
 *   included, is a violation (8.2.3.1.1), timed by the driver's clock
 *   (protocol.ts); so is any access but to CTRL until the reset is done
 *   (4.6.3.2 asks software to wait for it).
 * - Link (4.6.4): AUTOC.AN_RESTART (self-clearing) brings the link up
 *   `linkDelayMs` later when the port is wired (cable or loopback). LINKS
 *   (8.2.3.22.20) reports up + 10 Gb/s. The link partner is assumed to be
 *   always ready (like a switch port), so one side can come up first.
 * - Transmit (7.2, tx.ts): when DMATXCTL.TE and TXDCTL[n].ENABLE are set,
 *   advanced data descriptors (7.2.3.2.4) from TDH to TDT are fetched, their
 *   buffers read by DMA and gathered up to EOP; TDH advances. Write-back
 *   follows TXDCTL.WTHRESH (7.2.3.5.1): 0 = DD at once for descriptors with
 *   RS; > 0 = held back and written back in groups of WTHRESH, or on
 *   TXDCTL.SWFLSH — so TDH = TDT means fetched, not written back. Short
 *   frames are padded (HLREG0.TXPADEN); GPTC and GOTC (CRC included) count
 *   them; the frame goes to the wire.
 * - Receive (7.1, rx.ts): with RXCTRL.RXEN, frames pass the L2 filter
 *   (7.1.1.1: RAL/RAH exact matches, FCTRL.UPE/MPE/BAM; the multicast table
 *   is not modelled, so multicast needs MPE) and go to queue 0, or with RSS
 *   (MRQC.MRQE = 0001b, 7.1.2.8, rss.ts) to the queue RETA names for the
 *   frame's Toeplitz hash, the hash and RSS type written back when
 *   RXCSUM.PCSD is set (the other pool/queue filters are not modelled). The frame is
 *   written into the buffer(s) of the descriptors at RDH (one buffer is
 *   SRRCTL.BSIZEPACKET KB), written back with length, DD and EOP, RDH
 *   advances. No free descriptor (RDH = RDT): with SRRCTL.DROP_EN the frame
 *   is dropped and counted in QPRDC[m], m the statistics counter RQSMR maps
 *   the queue to; otherwise it waits in the packet buffer (RXPBSIZE[0]
 *   bytes) and when that is full, MPC[0] counts it. GPRC/GORC count a frame
 *   once it is stored (delivered or waiting in the packet buffer: 8.2.3.23,
 *   a packet need not reach host memory to count as received); GORC from
 *   destination address through CRC whether or not the CRC is stripped
 *   (8.2.3.23.27); GPRC also counts MPC's frames (the erratum DPDK cites and
 *   Linux works around). The CRC is stripped when HLREG0.RXCRCSTRP is set,
 *   else the model appends a real CRC-32.
 * - Statistics (8.2.3.23, registers.ts): GPRC, GPTC, GORCL/H, GOTCL/H,
 *   MPC[n], QPRDC[n] (per statistics counter, mapped by RQSMR) clear on read.
 * - Interrupts (7.3): EICR/EICS/EIMS/EIMC/EIAC/EIAM/GPIE/IVAR/EITR and MSI-X
 *   messages on receive write-back, in interrupts.ts.
 *
 * Programming errors are recorded as violations (register, section, what;
 * violations.ts): tails beyond the ring, tails moved while the queue is
 * disabled, queues enabled before their ring base/length is valid, ring
 * registers changed while a queue runs, descriptor rings or buffers outside
 * the DMA memory the driver owns, receive buffers whose SRRCTL.BSIZEPACKET
 * runs past their mempool buffer's data area (8.2.3.8.7), malformed
 * transmit descriptors, unaligned or out-of-range register offsets,
 * accesses during reset or within ~1 ms of setting CTRL.RST (8.2.3.1.1),
 * DMATXCTL writes that change VT (8.2.3.9.2), a receive queue disabled
 * while RSS still directs frames to it (4.6.7.1), MRQC modes not modelled.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import type { DmaSpace } from "./dma.ts";
import { InterruptUnit } from "./interrupts.ts";
import { rxQueueReg, txQueueReg } from "./queues.ts";
import {
  applyResetValues,
  BAR_SIZE,
  canonical,
  isQprdc,
  Statistics,
  writeRegister,
} from "./registers.ts";
import { FIELDS_MODELLED, MRQC, MRQE_MASK, MRQE_RSS } from "./rss.ts";
import { RxPath } from "./rx.ts";
import { TxPath } from "./tx.ts";
import { Violations, type ViolationSink } from "./violations.ts";

export { DmaSpace } from "./dma.ts";
export type { ViolationSink } from "./violations.ts";

/** How long software must leave the device alone after setting CTRL.RST (8.2.3.1.1): ~1 ms. */
const RESET_QUIET_US = 1000;

/** One 82599 port. */
export class PortModel {
  /** The port's name, e.g. `sim0`. */
  readonly name: string;
  /** Where transmitted frames go (set by the wiring), or undefined. */
  peer: PortModel | undefined;
  #regs: Uint32Array;
  #mac: number[];
  #check: Violations;
  #timing: { linkDelayMs: number; resetDelayMs: number };
  #resetUntil = -1;
  /** Driver time (µs) of the last CTRL.RST write, until ~1 ms passed (8.2.3.1.1). */
  #resetWrittenAt: number | undefined;
  #linkUpAt = -1;
  #linkUp = false;
  #stats = new Statistics();
  #rx: RxPath;
  #tx: TxPath;
  #irq: InterruptUnit;

  /** Creates a port in its power-on state. */
  constructor(
    name: string,
    env: {
      mac: number[];
      dma: DmaSpace;
      violation: ViolationSink;
      timing: { linkDelayMs: number; resetDelayMs: number };
      /** Sends an MSI-X message on vector n (default: nowhere). */
      interrupt?: (vector: number) => void;
      /**
       * Memory for the register file (BAR_SIZE bytes), shared so that an
       * observer (tools/view/) can read RDH/RDT/TDH/TDT from the side, as
       * it would read a mapped BAR; default: private memory.
       */
      registerFile?: SharedArrayBuffer;
    },
  ) {
    this.name = name;
    this.#regs = new Uint32Array(env.registerFile ?? new ArrayBuffer(BAR_SIZE));
    this.#mac = env.mac;
    this.#check = new Violations(env.violation, env.dma);
    this.#timing = env.timing;
    this.#irq = new InterruptUnit({
      violation: env.violation,
      signal: env.interrupt ?? (() => {}),
    });
    const port = { regs: this.#regs, dma: env.dma, check: this.#check, stats: this.#stats };
    this.#rx = new RxPath({ ...port, irq: this.#irq });
    this.#tx = new TxPath({
      ...port,
      wire: (frame, length) => {
        if (this.#linkUp && this.peer !== undefined) this.peer.receiveFrame(frame, length);
      },
    });
    this.#applyResetValues();
  }

  /** True while a reset or a link-up is pending (the device is not idle). */
  get timerPending(): boolean {
    return this.#resetUntil >= 0 || this.#linkUpAt >= 0 || this.#irq.timerPending;
  }

  /** Milliseconds until the next timer, or Infinity. */
  nextTimer(now: number): number {
    let t = Infinity;
    if (this.#resetUntil >= 0) t = Math.min(t, this.#resetUntil - now);
    if (this.#linkUpAt >= 0) t = Math.min(t, this.#linkUpAt - now);
    t = Math.min(t, this.#irq.nextTimer(now));
    return Math.max(0, t);
  }

  /** Runs due timers (reset completion, link up); returns how many fired. */
  tick(now: number): number {
    let n = 0;
    if (this.#resetUntil >= 0 && now >= this.#resetUntil) {
      this.#resetUntil = -1;
      this.#applyResetValues();
      n++;
    }
    if (this.#linkUpAt >= 0 && now >= this.#linkUpAt) {
      this.#linkUpAt = -1;
      this.#linkUp = true;
      n++;
    }
    if (this.#resetUntil < 0) n += this.#irq.tick(now);
    return n;
  }

  // -------------------------------------------------------------------------
  // Reset values

  #applyResetValues(): void {
    applyResetValues(this.#regs, this.#mac);
    this.#rx.reset();
    this.#tx.reset();
    this.#stats.reset();
    this.#linkUp = false;
    this.#linkUpAt = -1;
    this.#irq.reset();
  }

  // -------------------------------------------------------------------------
  // Register reads

  /**
   * A register read by the driver, with its side effects (read-to-clear);
   * `time` is when the driver posted it (µs, protocol.ts `ENTRY_WORDS`).
   */
  read(offset: number, time = 0): number {
    if (!this.#check.offset(offset, "read")) return 0xffffffff;
    const off = canonical(offset);
    this.#checkResetQuiet(off, time, "read");
    if (this.#resetUntil >= 0 && off !== C.IXGBE_CTRL) {
      this.#check.duringReset(off, "read");
    }
    if (this.#irq.owns(off)) return this.#irq.read(off);
    if (off === C.IXGBE_LINKS) {
      return this.#linkUp ? (C.IXGBE_LINKS_BITS.UP | C.IXGBE_LINKS_BITS.SPEED_10G_82599) >>> 0 : 0;
    }
    return this.#stats.read(off) ?? this.#regs[off >> 2];
  }

  // -------------------------------------------------------------------------
  // Register writes

  /** A register write by the driver, with its side effects; `time` as for {@link read}. */
  write(offset: number, value: number, time = 0): void {
    if (!this.#check.offset(offset, "write")) return;
    const off = canonical(offset);
    const r = this.#regs;
    this.#checkResetQuiet(off, time, "write");
    if (this.#resetUntil >= 0 && off !== C.IXGBE_CTRL) {
      this.#check.duringReset(off, "write");
      return;
    }
    if (this.#irq.owns(off)) return this.#irq.write(off, value, performance.now());
    switch (off) {
      case C.IXGBE_CTRL:
        if (value & C.IXGBE_CTRL_RST_MASK) {
          this.#startReset(value);
          this.#resetWrittenAt = time;
        } else if (this.#resetUntil < 0) r[off >> 2] = value;
        return;
      case C.IXGBE_AUTOC:
        r[off >> 2] = value & ~C.IXGBE_AUTOC_BITS.AN_RESTART; // self-clearing
        if (value & C.IXGBE_AUTOC_BITS.AN_RESTART) this.#restartAutoNeg();
        return;
      case MRQC: {
        const mrqe = value & MRQE_MASK;
        if (mrqe !== 0 && mrqe !== MRQE_RSS) this.#check.mrqcNotModelled(value, `MRQE ${mrqe}`);
        if (value & 0xffff0000 & ~FIELDS_MODELLED) {
          this.#check.mrqcNotModelled(value, "hash types other than IPv4, TcpIPv4, UdpIPv4");
        }
        r[off >> 2] = value;
        return;
      }
      case C.IXGBE_DMATXCTL:
        this.#check.dmatxctl(r[off >> 2], value);
        r[off >> 2] = value;
        if (value & C.IXGBE_DMATXCTL_TE) this.#tx.refreshEnabled();
        return;
    }
    if (off >= 0x0a200 && off < 0x0a600) {
      r[off >> 2] = value;
      this.#rx.updateFilters();
      return;
    }
    const rq = rxQueueReg(off);
    if (rq >= 0 && !isQprdc(off)) {
      this.#rx.writeQueue(rq >> 8, { reg: rq & 0xff, value });
      return;
    }
    const tq = txQueueReg(off);
    if (tq >= 0) {
      this.#tx.writeQueue(tq >> 8, { reg: tq & 0xff, value });
      return;
    }
    writeRegister(r, off, value);
  }

  /**
   * 8.2.3.1.1 (CTRL.RST) and 4.6.3.2: after setting CTRL.RST, software must
   * wait about 1 ms before it polls the bit or touches any other register.
   * Reported once per reset, at the first access that came too early.
   */
  #checkResetQuiet(off: number, time: number, what: "read" | "write"): void {
    if (this.#resetWrittenAt === undefined) return;
    const waited = (time - this.#resetWrittenAt) | 0;
    if (waited >= RESET_QUIET_US) {
      this.#resetWrittenAt = undefined;
      return;
    }
    this.#resetWrittenAt = undefined;
    this.#check.tooSoonAfterReset(off, what, waited);
  }

  #startReset(value: number): void {
    this.#regs[C.IXGBE_CTRL >> 2] = value;
    this.#resetUntil = performance.now() + this.#timing.resetDelayMs;
    // DMA stops at once.
    this.#rx.stop();
    this.#tx.stop();
    this.#linkUp = false;
    this.#linkUpAt = -1;
  }

  #restartAutoNeg(): void {
    this.#linkUp = false;
    this.#linkUpAt = this.peer === undefined ? -1 : performance.now() + this.#timing.linkDelayMs;
  }

  // -------------------------------------------------------------------------
  // Transmit (7.2) and receive (7.1): tx.ts and rx.ts

  /** Processes up to `budget` descriptors per enabled queue; returns how many it took. */
  transmit(budget: number): number {
    return this.#tx.transmit(budget);
  }

  /** A frame (without CRC) arrives from the wire. */
  receiveFrame(frame: Uint8Array, length: number): void {
    if (this.#resetUntil >= 0) return;
    this.#rx.receiveFrame(frame, length);
  }

  /** Moves frames waiting in the packet buffer to descriptors; returns how many. */
  receive(): number {
    return this.#rx.receive();
  }

  /**
   * Test hook (not a datasheet feature): writes back the next descriptor of
   * queue `q` as if a frame of `length` bytes arrived, with EOP or not, without
   * writing any data. Returns false when the queue has no free descriptor.
   */
  injectRxDescriptor(q: number, garbage: { length: number; eop: boolean }): boolean {
    return this.#rx.injectRxDescriptor(q, garbage);
  }
}

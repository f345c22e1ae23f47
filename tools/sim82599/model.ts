/**
 * One port of the software 82599: its registers, its queues, its MAC. Runs
 * inside the device worker (worker.ts); nothing here touches the driver's
 * objects — only the register requests the driver posts and the DMA memory.
 *
 * What is modelled (datasheet sections of the Intel 82599 datasheet rev. 3.3):
 *
 * - Reset (4.6.3.2): CTRL.RST / CTRL.LRST start a reset that takes
 *   `resetDelayMs`; the bits read 1 until it is done and then clear
 *   themselves. All registers return to their reset values, EEC.ARD
 *   (8.2.3.2.1) and RDRXCTL.DMAIDONE (8.2.3.8.8) are set, RAL/RAH(0) hold the
 *   port's MAC as if loaded from the EEPROM. Any other register access during
 *   the reset is a violation (4.6.3.2 asks software to wait for it).
 * - Link (4.6.4): AUTOC.AN_RESTART (self-clearing) brings the link up
 *   `linkDelayMs` later when the port is wired (cable or loopback). LINKS
 *   (8.2.3.22.20) reports up + 10 Gb/s. The link partner is assumed to be
 *   always ready (like a switch port), so one side can come up first.
 * - Transmit (7.2): when DMATXCTL.TE and TXDCTL[n].ENABLE are set, advanced
 *   data descriptors (7.2.3.2.4) from TDH to TDT are fetched, their buffers
 *   read by DMA and gathered up to EOP; DD is written back when RS is set;
 *   TDH advances. Short frames are padded (HLREG0.TXPADEN); GPTC and GOTC
 *   (CRC included) count them; the frame goes to the wire.
 * - Receive (7.1): with RXCTRL.RXEN, frames pass the L2 filter (7.1.1.1:
 *   RAL/RAH exact matches, FCTRL.UPE/MPE/BAM; the multicast table is not
 *   modelled, so multicast needs MPE) and go to queue 0 (RSS and the other
 *   pool/queue filters are not modelled: MRQC is ignored). The frame is
 *   written into the buffer(s) of the descriptors at RDH (one buffer is
 *   SRRCTL.BSIZEPACKET KB), written back with length, DD and EOP, RDH
 *   advances; GPRC/GORC count it (CRC included, as 8.2.3.23.27 says). No
 *   free descriptor (RDH = RDT): with SRRCTL.DROP_EN the frame is dropped and
 *   counted in QPRDC[n], otherwise it waits in the packet buffer (RXPBSIZE[0]
 *   bytes) and when that is full, MPC[0] counts it. The CRC is stripped when
 *   HLREG0.RXCRCSTRP is set, else the model appends a real CRC-32.
 * - Statistics (8.2.3.23): GPRC, GPTC, GORCL/H, GOTCL/H, MPC[n], QPRDC[n]
 *   clear on read.
 * - Interrupts (7.3): EICR/EICS/EIMS/EIMC/EIAC/EIAM/GPIE/IVAR/EITR and MSI-X
 *   messages on receive write-back, in interrupts.ts.
 *
 * Programming errors are recorded as violations (register, section, what):
 * tails beyond the ring, tails moved while the queue is disabled, queues
 * enabled before their ring base/length is valid, ring registers changed
 * while a queue runs, descriptor rings or buffers outside the DMA memory the
 * driver owns, malformed transmit descriptors, unaligned or out-of-range
 * register offsets, accesses during reset.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import { InterruptUnit } from "./interrupts.ts";

/** Size of the register space we model (the 82599's CSR space is 128 KB, 8.1). */
const BAR_SIZE = 0x20000;
const QUEUES = 128;
const TWO_TO_32 = 0x1_0000_0000;
/** Largest frame we gather on transmit (jumbo frames go up to 15.5 KB, 8.2.3.22.13). */
const MAX_FRAME = 16 * 1024;
const MIN_FRAME = 60;
const CRC_BYTES = 4;

/** The DMA memory of the simulation, as the device sees it: equal slabs at fixed addresses. */
export class DmaSpace {
  /** Byte views of the slabs. */
  readonly u8: Uint8Array[];
  /** Word views of the slabs. */
  readonly u32: Uint32Array[];
  /** Slab of the last successful {@link locate}. */
  slab = 0;
  /** Byte offset in that slab. */
  offset = 0;
  #use: Int32Array;
  #base: number;
  #slabSize: number;

  /** Wraps the slabs; `use[i]` says how many bytes of slab i the driver owns. */
  constructor(
    slabs: SharedArrayBuffer[],
    layout: { use: Int32Array; base: number; slabSize: number },
  ) {
    this.u8 = slabs.map((s) => new Uint8Array(s));
    this.u32 = slabs.map((s) => new Uint32Array(s));
    this.#use = layout.use;
    this.#base = layout.base;
    this.#slabSize = layout.slabSize;
  }

  /**
   * Finds `[phys, phys + length)` in memory the driver owns; sets {@link slab}
   * and {@link offset} and returns true, or returns false (a DMA error).
   */
  locate(phys: number, length: number): boolean {
    const rel = phys - this.#base;
    if (!(rel >= 0) || length < 0) return false;
    const i = Math.floor(rel / this.#slabSize);
    if (i >= this.u8.length) return false;
    const off = rel - i * this.#slabSize;
    if (off + length > Atomics.load(this.#use, i)) return false;
    this.slab = i;
    this.offset = off;
    return true;
  }
}

/** Where a port reports violations. */
export type ViolationSink = (register: string, section: string, message: string) => void;

/** A descriptor ring as the device caches it when the queue is enabled. */
interface Ring {
  enabled: boolean;
  slab: number;
  /** Word index of descriptor 0 in the slab. */
  word: number;
  /** Descriptors. */
  size: number;
}

/** Transmit queue state: the ring plus the frame being gathered. */
interface TxRing extends Ring {
  frame: Uint8Array;
  length: number;
  bad: boolean;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Maps the 82598-compatible aliases to the 82599 addresses (8.2.3 register summary). */
function canonical(off: number): number {
  if (off >= 0x05400 && off < 0x05480) return 0x0a200 + (off - 0x05400); // RAL/RAH 0-15
  if (off >= 0x02100 && off < 0x02140) return 0x01014 + ((off - 0x02100) >> 2) * 0x40; // SRRCTL
  if (off >= 0x02200 && off < 0x02240) return 0x0100c + ((off - 0x02200) >> 2) * 0x40; // DCA_RXCTRL
  return off;
}

/** Queue number and register (offset within the 0x40 block) of a per-queue RX register, or -1. */
function rxQueueReg(off: number): number {
  if (off >= 0x01000 && off < 0x02000) return ((off - 0x01000) >> 6) * 256 + (off & 0x3f);
  if (off >= 0x0d000 && off < 0x0e000) return (64 + ((off - 0x0d000) >> 6)) * 256 + (off & 0x3f);
  return -1;
}

/** Same for TX registers (queues 0-127 at 0x06000). */
function txQueueReg(off: number): number {
  if (off >= 0x06000 && off < 0x08000) return ((off - 0x06000) >> 6) * 256 + (off & 0x3f);
  return -1;
}

const REG = { BAL: 0x00, BAH: 0x04, LEN: 0x08, H: 0x10, T: 0x18, DCTL: 0x28 } as const;

/** One 82599 port. */
export class PortModel {
  /** The port's name, e.g. `sim0`. */
  readonly name: string;
  /** Where transmitted frames go (set by the wiring), or undefined. */
  peer: PortModel | undefined;
  #regs = new Uint32Array(BAR_SIZE / 4);
  #mac: number[];
  #dma: DmaSpace;
  #violation: ViolationSink;
  #timing: { linkDelayMs: number; resetDelayMs: number };
  #resetUntil = -1;
  #linkUpAt = -1;
  #linkUp = false;
  #gprc = 0;
  #gptc = 0;
  #gorc = 0;
  #gotc = 0;
  #mpc = new Float64Array(8);
  #qprdc = new Float64Array(16);
  #rx: Ring[] = [];
  #tx: TxRing[] = [];
  #txEnabled: number[] = [];
  #filters: number[] = []; // pairs: RAL value, RAH & 0xffff
  #pbFrames: Uint8Array[] = [];
  #pbBytes = 0;
  #rxScratch = new Uint8Array(MAX_FRAME + CRC_BYTES);
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
    },
  ) {
    this.name = name;
    this.#mac = env.mac;
    this.#dma = env.dma;
    this.#violation = env.violation;
    this.#timing = env.timing;
    this.#irq = new InterruptUnit({
      violation: env.violation,
      signal: env.interrupt ?? (() => {}),
    });
    for (let i = 0; i < QUEUES; i++) {
      this.#rx.push({ enabled: false, slab: 0, word: 0, size: 0 });
      this.#tx.push({
        enabled: false,
        slab: 0,
        word: 0,
        size: 0,
        frame: new Uint8Array(0),
        length: 0,
        bad: false,
      });
    }
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
    const r = this.#regs;
    r.fill(0);
    // EEPROM auto-read and DMA init are done when the reset ends.
    r[C.IXGBE_EEC >> 2] = C.IXGBE_EEC_ARD | 0x100; // ARD | PRES (EEPROM present)
    r[C.IXGBE_RDRXCTL >> 2] = C.IXGBE_RDRXCTL_BITS.DMAIDONE;
    r[C.IXGBE_RXPBSIZE(0) >> 2] = 0x00080000; // 512 KB (8.2.3.8.9)
    r[C.IXGBE_TXPBSIZE(0) >> 2] = 0x00028000; // 160 KB (8.2.3.9.13)
    r[C.IXGBE_HLREG0 >> 2] = C.IXGBE_HLREG0_BITS.TXCRCEN | C.IXGBE_HLREG0_BITS.RXCRCSTRP |
      C.IXGBE_HLREG0_BITS.TXPADEN;
    for (let q = 0; q < QUEUES; q++) {
      r[canonical(C.IXGBE_SRRCTL(q)) >> 2] = 0x402; // 2 KB packet buffer, 256-byte header buffer
      r[canonical(C.IXGBE_DCA_RXCTRL(q)) >> 2] = C.IXGBE_DCA_RXCTRL_BIT12;
      this.#rx[q].enabled = false;
      const t = this.#tx[q];
      t.enabled = false;
      t.length = 0;
      t.bad = false;
    }
    this.#txEnabled = [];
    // The MAC address "from the EEPROM" in receive address 0, valid.
    const m = this.#mac;
    r[0x0a200 >> 2] = (m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0;
    r[0x0a204 >> 2] = (m[4] | (m[5] << 8) | C.IXGBE_RAH_AV) >>> 0;
    this.#rebuildFilters();
    this.#gprc =
      this.#gptc =
      this.#gorc =
      this.#gotc =
        0;
    this.#mpc.fill(0);
    this.#qprdc.fill(0);
    this.#pbFrames = [];
    this.#pbBytes = 0;
    this.#linkUp = false;
    this.#linkUpAt = -1;
    this.#irq.reset();
  }

  // -------------------------------------------------------------------------
  // Register reads

  /** A register read by the driver, with its side effects (read-to-clear). */
  read(offset: number): number {
    if (!this.#checkOffset(offset, "read")) return 0xffffffff;
    const off = canonical(offset);
    if (this.#resetUntil >= 0 && off !== C.IXGBE_CTRL) {
      this.#duringReset(off, "read");
    }
    if (this.#irq.owns(off)) return this.#irq.read(off);
    const r = this.#regs;
    switch (off) {
      case C.IXGBE_GPRC:
        return this.#take32("gprc");
      case C.IXGBE_GPTC:
        return this.#take32("gptc");
      case C.IXGBE_GORCL: {
        const v = this.#gorc % TWO_TO_32;
        this.#gorc -= v;
        return v;
      }
      case C.IXGBE_GORCH: {
        const v = Math.floor(this.#gorc / TWO_TO_32) & 0xf;
        this.#gorc = 0;
        return v;
      }
      case C.IXGBE_GOTCL: {
        const v = this.#gotc % TWO_TO_32;
        this.#gotc -= v;
        return v;
      }
      case C.IXGBE_GOTCH: {
        const v = Math.floor(this.#gotc / TWO_TO_32) & 0xf;
        this.#gotc = 0;
        return v;
      }
      case C.IXGBE_LINKS:
        return this.#linkUp
          ? (C.IXGBE_LINKS_BITS.UP | C.IXGBE_LINKS_BITS.SPEED_10G_82599) >>> 0
          : 0;
    }
    if (off >= C.IXGBE_MPC(0) && off <= C.IXGBE_MPC(7)) {
      const i = (off - C.IXGBE_MPC(0)) >> 2;
      const v = this.#mpc[i] % TWO_TO_32;
      this.#mpc[i] = 0;
      return v;
    }
    if (off >= C.IXGBE_QPRDC(0) && off <= C.IXGBE_QPRDC(15) && (off & 0x3f) === 0x30) {
      const i = (off - C.IXGBE_QPRDC(0)) >> 6;
      const v = this.#qprdc[i] % TWO_TO_32;
      this.#qprdc[i] = 0;
      return v;
    }
    return r[off >> 2];
  }

  #take32(which: "gprc" | "gptc"): number {
    const v = (which === "gprc" ? this.#gprc : this.#gptc) % TWO_TO_32;
    if (which === "gprc") this.#gprc = 0;
    else this.#gptc = 0;
    return v;
  }

  // -------------------------------------------------------------------------
  // Register writes

  /** A register write by the driver, with its side effects. */
  write(offset: number, value: number): void {
    if (!this.#checkOffset(offset, "write")) return;
    const off = canonical(offset);
    const r = this.#regs;
    if (this.#resetUntil >= 0 && off !== C.IXGBE_CTRL) {
      this.#duringReset(off, "write");
      return;
    }
    if (this.#irq.owns(off)) return this.#irq.write(off, value, performance.now());
    switch (off) {
      case C.IXGBE_CTRL:
        if (value & C.IXGBE_CTRL_RST_MASK) this.#startReset(value);
        else if (this.#resetUntil < 0) r[off >> 2] = value;
        return;
      case C.IXGBE_AUTOC:
        r[off >> 2] = value & ~C.IXGBE_AUTOC_BITS.AN_RESTART; // self-clearing
        if (value & C.IXGBE_AUTOC_BITS.AN_RESTART) this.#restartAutoNeg();
        return;
      case C.IXGBE_EEC:
        r[off >> 2] = (value & ~0x300) | (r[off >> 2] & 0x300); // ARD, PRES are read-only
        return;
      case C.IXGBE_LINKS:
      case C.IXGBE_GPRC:
      case C.IXGBE_GPTC:
      case C.IXGBE_GORCL:
      case C.IXGBE_GORCH:
      case C.IXGBE_GOTCL:
      case C.IXGBE_GOTCH:
        return; // read-only
      case C.IXGBE_RDRXCTL:
        r[off >> 2] = value | C.IXGBE_RDRXCTL_BITS.DMAIDONE; // DMAIDONE is read-only
        return;
      case C.IXGBE_DMATXCTL:
        r[off >> 2] = value;
        if (value & C.IXGBE_DMATXCTL_TE) this.#refreshTxEnabled();
        return;
    }
    if (off >= 0x0a200 && off < 0x0a600) {
      r[off >> 2] = value;
      this.#rebuildFilters();
      return;
    }
    const rq = rxQueueReg(off);
    if (
      rq >= 0 && !(off >= C.IXGBE_QPRDC(0) && off <= C.IXGBE_QPRDC(15) && (off & 0x3f) === 0x30)
    ) {
      this.#writeRxQueue(rq >> 8, { reg: rq & 0xff, value });
      return;
    }
    const tq = txQueueReg(off);
    if (tq >= 0) {
      this.#writeTxQueue(tq >> 8, { reg: tq & 0xff, value });
      return;
    }
    r[off >> 2] = value;
  }

  #checkOffset(offset: number, what: string): boolean {
    if (offset >= 0 && offset < BAR_SIZE && (offset & 3) === 0) return true;
    this.#violation(
      `BAR0+${hex(offset)}`,
      "8.1",
      `${what} at an offset that is not a 32-bit register of the 128 KB register space ` +
        `(registers are 32 bits wide, 4-byte aligned).`,
    );
    return false;
  }

  #duringReset(off: number, what: string): void {
    this.#violation(
      `BAR0+${hex(off)}`,
      "4.6.3.2",
      `register ${what} during a global reset: wait until CTRL.RST reads 0 (and ~1 ms) ` +
        `before touching other registers.`,
    );
  }

  #startReset(value: number): void {
    this.#regs[C.IXGBE_CTRL >> 2] = value;
    this.#resetUntil = performance.now() + this.#timing.resetDelayMs;
    // DMA stops at once.
    for (let q = 0; q < QUEUES; q++) this.#rx[q].enabled = this.#tx[q].enabled = false;
    this.#txEnabled = [];
    this.#linkUp = false;
    this.#linkUpAt = -1;
  }

  #restartAutoNeg(): void {
    this.#linkUp = false;
    this.#linkUpAt = this.peer === undefined ? -1 : performance.now() + this.#timing.linkDelayMs;
  }

  #rebuildFilters(): void {
    const f: number[] = [];
    for (let i = 0; i < 128; i++) {
      const rah = this.#regs[(0x0a204 + 8 * i) >> 2];
      if (rah & C.IXGBE_RAH_AV) f.push(this.#regs[(0x0a200 + 8 * i) >> 2], rah & 0xffff);
    }
    this.#filters = f;
  }

  /** Validates and caches a ring when its queue is enabled (4.6.7 / 4.6.8). */
  #enableRing(ring: Ring, regs: { dir: "RX" | "TX"; q: number; base: number }): boolean {
    const r = this.#regs;
    const p = regs.dir === "RX" ? "R" : "T";
    const bal = r[(regs.base + REG.BAL) >> 2];
    const bah = r[(regs.base + REG.BAH) >> 2];
    const len = r[(regs.base + REG.LEN) >> 2];
    const ctl = `${regs.dir === "RX" ? "RXDCTL" : "TXDCTL"}(${regs.q})`;
    const init = regs.dir === "RX" ? "4.6.7" : "4.6.8";
    const phys = bal + bah * TWO_TO_32;
    const fail = (section: string, why: string): boolean => {
      this.#violation(ctl, section, `queue enabled ${why}; the queue stays disabled.`);
      return false;
    };
    if (len === 0) return fail(init, `before its ring length ${p}DLEN(${regs.q}) was set`);
    if (phys === 0) {
      return fail(init, `before its ring base ${p}DBAL/${p}DBAH(${regs.q}) was set`);
    }
    if (len % 128 !== 0) {
      return fail(
        regs.dir === "RX" ? "8.2.3.8.3" : "8.2.3.9.7",
        `with ${p}DLEN(${regs.q}) = ${len}, not a multiple of 128`,
      );
    }
    if (phys % 128 !== 0) {
      return fail(
        regs.dir === "RX" ? "8.2.3.8.1" : "8.2.3.9.5",
        `with ring base ${hex(phys)}, not 128-byte aligned`,
      );
    }
    if (!this.#dma.locate(phys, len)) {
      return fail(
        regs.dir === "RX" ? "7.1.9" : "7.2.3.3",
        `with ring ${hex(phys)} + ${len} bytes outside the DMA memory the driver owns`,
      );
    }
    ring.slab = this.#dma.slab;
    ring.word = this.#dma.offset / 4;
    ring.size = len / 16;
    ring.enabled = true;
    return true;
  }

  #writeRxQueue(q: number, write: { reg: number; value: number }): void {
    const { reg, value } = write;
    const r = this.#regs;
    const base = C.IXGBE_RDBAL(q);
    const ring = this.#rx[q];
    const idx = (base + reg) >> 2;
    switch (reg) {
      case REG.BAL:
      case REG.BAH:
      case REG.LEN:
        if (ring.enabled) {
          const name = reg === REG.BAL ? "RDBAL" : reg === REG.BAH ? "RDBAH" : "RDLEN";
          this.#violation(
            `${name}(${q})`,
            "4.6.7.1",
            `ring register changed while the queue is enabled: clear RXDCTL.ENABLE first.`,
          );
        }
        r[idx] = value;
        return;
      case REG.T: {
        const size = r[(base + REG.LEN) >> 2] / 16;
        if (value >= Math.max(1, size)) {
          this.#violation(
            `RDT(${q})`,
            "8.2.3.8.5",
            `tail ${value} is beyond the ring of ${size} descriptors (RDLEN ${
              r[(base + REG.LEN) >> 2]
            }); write ignored.`,
          );
          return;
        }
        if (!ring.enabled && value !== r[(base + REG.H) >> 2]) {
          this.#violation(
            `RDT(${q})`,
            "4.6.7",
            `tail moved to ${value} while the queue is disabled: set RXDCTL.ENABLE, wait until ` +
              `it reads 1, then bump the tail.`,
          );
        }
        r[idx] = value;
        return;
      }
      case REG.DCTL: {
        const was = (r[idx] & C.IXGBE_RXDCTL_ENABLE) !== 0;
        let v = value;
        if ((value & C.IXGBE_RXDCTL_ENABLE) && !was) {
          if (!this.#enableRing(ring, { dir: "RX", q, base })) v &= ~C.IXGBE_RXDCTL_ENABLE;
        } else if (!(value & C.IXGBE_RXDCTL_ENABLE)) {
          ring.enabled = false;
        }
        r[idx] = v >>> 0;
        return;
      }
      default:
        r[idx] = value;
    }
  }

  #writeTxQueue(q: number, write: { reg: number; value: number }): void {
    const { reg, value } = write;
    const r = this.#regs;
    const base = C.IXGBE_TDBAL(q);
    const ring = this.#tx[q];
    const idx = (base + reg) >> 2;
    switch (reg) {
      case REG.BAL:
      case REG.BAH:
      case REG.LEN:
        if (ring.enabled) {
          const name = reg === REG.BAL ? "TDBAL" : reg === REG.BAH ? "TDBAH" : "TDLEN";
          this.#violation(
            `${name}(${q})`,
            "4.6.8.1",
            `ring register changed while the queue is enabled: clear TXDCTL.ENABLE first.`,
          );
        }
        r[idx] = value;
        return;
      case REG.T: {
        const size = r[(base + REG.LEN) >> 2] / 16;
        if (value >= Math.max(1, size)) {
          this.#violation(
            `TDT(${q})`,
            "8.2.3.9.9",
            `tail ${value} is beyond the ring of ${size} descriptors (TDLEN ${
              r[(base + REG.LEN) >> 2]
            }); write ignored.`,
          );
          return;
        }
        if (!ring.enabled && value !== r[(base + REG.H) >> 2]) {
          this.#violation(
            `TDT(${q})`,
            "4.6.8",
            `tail moved to ${value} while the queue is disabled: the tail must not be bumped ` +
              `before TXDCTL.ENABLE reads 1.`,
          );
        }
        r[idx] = value;
        return;
      }
      case REG.DCTL: {
        const was = (r[idx] & C.IXGBE_TXDCTL_ENABLE) !== 0;
        let v = value;
        if ((value & C.IXGBE_TXDCTL_ENABLE) && !was) {
          if (this.#enableRing(ring, { dir: "TX", q, base })) {
            if (ring.frame.length === 0) ring.frame = new Uint8Array(MAX_FRAME);
            ring.length = 0;
            ring.bad = false;
          } else {
            v &= ~C.IXGBE_TXDCTL_ENABLE;
          }
        } else if (!(value & C.IXGBE_TXDCTL_ENABLE)) {
          ring.enabled = false;
        }
        r[idx] = v >>> 0;
        this.#refreshTxEnabled();
        return;
      }
      default:
        r[idx] = value;
    }
  }

  #refreshTxEnabled(): void {
    this.#txEnabled = [];
    for (let q = 0; q < QUEUES; q++) if (this.#tx[q].enabled) this.#txEnabled.push(q);
  }

  // -------------------------------------------------------------------------
  // Transmit (7.2)

  /** Processes up to `budget` descriptors per enabled queue; returns how many it took. */
  transmit(budget: number): number {
    if (!(this.#regs[C.IXGBE_DMATXCTL >> 2] & C.IXGBE_DMATXCTL_TE)) return 0;
    let n = 0;
    for (const q of this.#txEnabled) n += this.#transmitQueue(q, budget);
    return n;
  }

  #transmitQueue(q: number, budget: number): number {
    const r = this.#regs;
    const t = this.#tx[q];
    if (!t.enabled) return 0;
    const hIdx = C.IXGBE_TDH(q) >> 2;
    const tail = r[C.IXGBE_TDT(q) >> 2];
    let head = r[hIdx];
    const ring = this.#dma.u32[t.slab];
    const X = C.IXGBE_ADVTXD;
    let n = 0;
    while (head !== tail && n < budget) {
      const w = t.word + head * 4;
      const lo = ring[w];
      const hi = ring[w + 1];
      const cmd = ring[w + 2];
      const olinfo = ring[w + 3];
      const len = cmd & X.DTALEN_MASK;
      const where = `TX descriptor ${head} of queue ${q}`;
      if (!t.bad) {
        if (!(cmd & X.DCMD_DEXT) || (cmd & X.DTYP_MASK) !== X.DTYP_DATA) {
          this.#violation(
            where,
            "7.2.3.2.4",
            `not an advanced data descriptor (DEXT=1, DTYP=0011b): word 2 = ${hex(cmd)}. ` +
              `Uninitialised descriptor? Check TDT.`,
          );
          t.bad = true;
        } else if (len === 0) {
          this.#violation(where, "7.2.3.2.4", `data length (DTALEN) is 0.`);
          t.bad = true;
        } else if (!this.#dma.locate(lo + hi * TWO_TO_32, len)) {
          this.#violation(
            where,
            "7.2.3.2.4",
            `buffer ${hex(lo + hi * TWO_TO_32)} + ${len} bytes is outside the DMA memory ` +
              `the driver owns.`,
          );
          t.bad = true;
        } else if (t.length + len > MAX_FRAME) {
          this.#violation(where, "7.2.3.2.4", `frame longer than ${MAX_FRAME} bytes.`);
          t.bad = true;
        } else {
          const off = this.#dma.offset;
          t.frame.set(this.#dma.u8[this.#dma.slab].subarray(off, off + len), t.length);
          t.length += len;
        }
      }
      // Write-back (7.2.3.2.4): the whole descriptor, DD last.
      if (cmd & X.DCMD_RS) {
        ring[w] = 0;
        ring[w + 1] = 0;
        ring[w + 2] = 0;
        Atomics.store(ring, w + 3, X.STAT_DD);
      }
      head = head + 1 === t.size ? 0 : head + 1;
      n++;
      if (cmd & X.DCMD_EOP) {
        if (!t.bad) {
          const paylen = olinfo >>> X.PAYLEN_SHIFT;
          if (paylen !== t.length) {
            this.#violation(
              where,
              "7.2.3.2.4",
              `PAYLEN ${paylen} differs from the frame length ${t.length} (without TSO, ` +
                `PAYLEN is the whole frame).`,
            );
          }
          this.#sendFrame(t.frame, t.length);
        }
        t.length = 0;
        t.bad = false;
      }
    }
    r[hIdx] = head;
    return n;
  }

  #sendFrame(frame: Uint8Array, length: number): void {
    let n = length;
    if ((this.#regs[C.IXGBE_HLREG0 >> 2] & C.IXGBE_HLREG0_BITS.TXPADEN) && n < MIN_FRAME) {
      frame.fill(0, n, MIN_FRAME);
      n = MIN_FRAME;
    }
    this.#gptc++;
    this.#gotc += n + CRC_BYTES;
    if (this.#linkUp && this.peer !== undefined) this.peer.receiveFrame(frame, n);
  }

  // -------------------------------------------------------------------------
  // Receive (7.1)

  /** A frame (without CRC) arrives from the wire. */
  receiveFrame(frame: Uint8Array, length: number): void {
    const r = this.#regs;
    if (this.#resetUntil >= 0 || !(r[C.IXGBE_RXCTRL >> 2] & C.IXGBE_RXCTRL_RXEN)) return;
    if (!this.#accept(frame)) return;
    if (this.#pbFrames.length === 0 && this.#deliver(frame, length)) return;
    // No descriptor for it (7.1.9 / 8.2.3.8.7 DROP_EN).
    if (r[canonical(C.IXGBE_SRRCTL(0)) >> 2] & C.IXGBE_SRRCTL_BITS.DROP_EN) {
      this.#qprdc[0]++;
      return;
    }
    const capacity = ((r[C.IXGBE_RXPBSIZE(0) >> 2] >>> 10) & 0x3ff) * 1024;
    if (this.#pbBytes + length > capacity) {
      this.#mpc[0]++;
      return;
    }
    this.#pbFrames.push(frame.slice(0, length));
    this.#pbBytes += length;
  }

  /** Moves frames waiting in the packet buffer to descriptors; returns how many. */
  receive(): number {
    let n = 0;
    while (this.#pbFrames.length > 0) {
      const f = this.#pbFrames[0];
      if (!this.#deliver(f, f.length)) break;
      this.#pbFrames.shift();
      this.#pbBytes -= f.length;
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
   * Writes a frame into the descriptors at RDH of queue 0 (the only one
   * without RSS); false if there are too few.
   */
  #deliver(frame: Uint8Array, length: number): boolean {
    const q = 0;
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
      if (!this.#dma.locate(addr, chunk)) {
        this.#violation(
          `RX descriptor ${head} of queue ${q}`,
          "7.1.6.1",
          `packet buffer ${hex(addr)} + ${chunk} bytes is outside the DMA memory the driver ` +
            `owns; frame dropped.`,
        );
        r[hIdx] = head;
        return true;
      }
      const off = this.#dma.offset;
      this.#dma.u8[this.#dma.slab].set(data.subarray(pos, pos + chunk), off);
      pos += chunk;
      // Write-back (7.1.6.2): length, then status with DD (and EOP) last.
      desc[w] = 0;
      desc[w + 1] = 0;
      desc[w + D.WB_LENGTH] = chunk;
      Atomics.store(
        desc,
        w + D.WB_STATUS_ERROR,
        C.IXGBE_RXDADV_STAT.DD | (pos === total ? C.IXGBE_RXDADV_STAT.EOP : 0),
      );
      head = head + 1 === ring.size ? 0 : head + 1;
    }
    r[hIdx] = head;
    this.#gprc++;
    this.#gorc += length + CRC_BYTES;
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

/**
 * The programming errors a software 82599 port catches, each with the
 * section of the datasheet (rev. 3.3) that forbids it. A check records a
 * violation (register, section, what) and tells the caller what the device
 * does about it: ignore the write, keep the queue disabled, drop the frame.
 *
 * Checked here: unaligned or out-of-range register offsets (8.1), accesses
 * during reset (4.6.3.2), ring registers changed while a queue runs (4.6.7.1
 * / 4.6.8.1), tails beyond the ring (8.2.3.8.5 / 8.2.3.9.9), tails moved
 * while the queue is disabled (4.6.7 / 4.6.8), queues enabled before their
 * ring base/length is valid, descriptor rings or buffers outside the DMA
 * memory the driver owns, receive buffers larger (SRRCTL.BSIZEPACKET) than
 * their mempool buffer's data area (8.2.3.8.7), malformed transmit
 * descriptors (7.2.3.2.4: DEXT/DTYP, IFCS, length), accesses within ~1 ms of
 * setting CTRL.RST (8.2.3.1.1), DMATXCTL writes that change VT (8.2.3.9.2),
 * a receive queue disabled while RSS may still direct frames to it (4.6.7.1),
 * and MRQC modes the model does not implement (8.2.3.7.12; reported rather
 * than silently ignored). The interrupt checks are in interrupts.ts.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import type { DmaSpace } from "./dma.ts";
import { BAR_SIZE, MAX_FRAME } from "./registers.ts";

/** Where a port reports violations. */
export type ViolationSink = (register: string, section: string, message: string) => void;

/** Receive or transmit queues: the same rules, different registers and sections. */
export type Direction = "RX" | "TX";

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Per direction: the register names and datasheet sections of the queue rules. */
const QUEUE_RULES = {
  RX: {
    /** First letter of the ring registers: RDBAL, RDBAH, RDLEN, RDH, RDT. */
    p: "R",
    ctl: "RXDCTL",
    /** Queue initialisation: ring set up before ENABLE, tail moved after it. */
    init: "4.6.7",
    /** Ring registers change only while the queue is disabled. */
    ringChange: "4.6.7.1",
    tail: "8.2.3.8.5",
    len: "8.2.3.8.3",
    base: "8.2.3.8.1",
    dma: "7.1.9",
    tailWhileDisabled: `set RXDCTL.ENABLE, wait until it reads 1, then bump the tail.`,
  },
  TX: {
    p: "T",
    ctl: "TXDCTL",
    init: "4.6.8",
    ringChange: "4.6.8.1",
    tail: "8.2.3.9.9",
    len: "8.2.3.9.7",
    base: "8.2.3.9.5",
    dma: "7.2.3.3",
    tailWhileDisabled: `the tail must not be bumped before TXDCTL.ENABLE reads 1.`,
  },
} as const;

/** The checks of one port, reporting to its sink. */
export class Violations {
  #violation: ViolationSink;
  #dma: DmaSpace;

  /** Checks against `dma` (the memory the driver owns), reports to `sink`. */
  constructor(sink: ViolationSink, dma: DmaSpace) {
    this.#violation = sink;
    this.#dma = dma;
  }

  /** A register access at BAR0 + `offset` (8.1); false if it is no register. */
  offset(offset: number, what: "read" | "write"): boolean {
    if (offset >= 0 && offset < BAR_SIZE && (offset & 3) === 0) return true;
    this.#violation(
      `BAR0+${hex(offset)}`,
      "8.1",
      `${what} at an offset that is not a 32-bit register of the 128 KB register space ` +
        `(registers are 32 bits wide, 4-byte aligned).`,
    );
    return false;
  }

  /** A register access during a global reset (4.6.3.2 asks software to wait for it). */
  duringReset(off: number, what: "read" | "write"): void {
    this.#violation(
      `BAR0+${hex(off)}`,
      "4.6.3.2",
      `register ${what} during a global reset: wait until CTRL.RST reads 0 (and ~1 ms) ` +
        `before touching other registers.`,
    );
  }

  /**
   * A register access only `waited` µs after the driver set CTRL.RST. 8.2.3.1.1
   * (and 4.6.3.2): wait about 1 ms after setting it before polling it or
   * accessing any other register — the device may not answer before.
   */
  tooSoonAfterReset(off: number, what: "read" | "write", waited: number): void {
    this.#violation(
      off === C.IXGBE_CTRL ? "CTRL" : `BAR0+${hex(off)}`,
      "8.2.3.1.1",
      `register ${what} ${waited} us after setting CTRL.RST: wait ~1 ms (4.6.3.2) before ` +
        `polling CTRL.RST or touching any other register.`,
    );
  }

  /**
   * A write of `value` to DMATXCTL, which held `old`. Bits 31:16 (VT) hold
   * the VLAN EtherType 0x8100 from reset; 8.2.3.9.2 says software must not
   * change it: set TE with a read-modify-write.
   */
  dmatxctl(old: number, value: number): void {
    if (((old ^ value) & 0xffff0000) === 0) return;
    this.#violation(
      "DMATXCTL",
      "8.2.3.9.2",
      `write of ${hex(value >>> 0)} changes VT (bits 31:16, the VLAN EtherType, ` +
        `${hex(old >>> 16)} after reset): set TE with a read-modify-write.`,
    );
  }

  /** A write to ring register BAL, BAH or LEN of queue `q`, which is enabled. */
  ringChangedWhileEnabled(dir: Direction, reg: "BAL" | "BAH" | "LEN", q: number): void {
    const rules = QUEUE_RULES[dir];
    this.#violation(
      `${rules.p}D${reg}(${q})`,
      rules.ringChange,
      `ring register changed while the queue is enabled: clear ${rules.ctl}.ENABLE first.`,
    );
  }

  /**
   * A tail write (RDT/TDT) of `value` to queue `q`, whose ring is `len` bytes
   * long, whose head is `head`; false if it is beyond the ring (the write is
   * ignored). A tail moved while the queue is disabled is a violation too,
   * but the write happens.
   */
  tail(dir: Direction, q: number, value: number, ring: {
    len: number;
    head: number;
    enabled: boolean;
  }): boolean {
    const rules = QUEUE_RULES[dir];
    const size = ring.len / 16;
    if (value >= Math.max(1, size)) {
      this.#violation(
        `${rules.p}DT(${q})`,
        rules.tail,
        `tail ${value} is beyond the ring of ${size} descriptors (${rules.p}DLEN ${ring.len}); ` +
          `write ignored.`,
      );
      return false;
    }
    if (!ring.enabled && value !== ring.head) {
      this.#violation(
        `${rules.p}DT(${q})`,
        rules.init,
        `tail moved to ${value} while the queue is disabled: ${rules.tailWhileDisabled}`,
      );
    }
    return true;
  }

  /**
   * Queue `q` is being enabled with the ring at `phys`, `len` bytes long
   * (4.6.7 / 4.6.8); false if the ring is not valid (the queue stays
   * disabled). When true, the DMA space has located the ring.
   */
  ring(dir: Direction, q: number, phys: number, len: number): boolean {
    const rules = QUEUE_RULES[dir];
    const p = rules.p;
    const fail = (section: string, why: string): boolean => {
      this.#violation(
        `${rules.ctl}(${q})`,
        section,
        `queue enabled ${why}; the queue stays disabled.`,
      );
      return false;
    };
    if (len === 0) return fail(rules.init, `before its ring length ${p}DLEN(${q}) was set`);
    if (phys === 0) {
      return fail(rules.init, `before its ring base ${p}DBAL/${p}DBAH(${q}) was set`);
    }
    if (len % 128 !== 0) {
      return fail(rules.len, `with ${p}DLEN(${q}) = ${len}, not a multiple of 128`);
    }
    if (phys % 128 !== 0) {
      return fail(rules.base, `with ring base ${hex(phys)}, not 128-byte aligned`);
    }
    if (!this.#dma.locate(phys, len)) {
      return fail(
        rules.dma,
        `with ring ${hex(phys)} + ${len} bytes outside the DMA memory the driver owns`,
      );
    }
    return true;
  }

  /**
   * An advanced transmit data descriptor (7.2.3.2.4) at `where`: word 2
   * `cmd`, buffer `addr` of `len` bytes, `gathered` bytes of its frame
   * before it. False if it is malformed (the frame will not be sent); when
   * true, the DMA space has located the buffer.
   */
  txDescriptor(
    where: string,
    desc: { cmd: number; addr: number; len: number; gathered: number },
  ): boolean {
    const { cmd, addr, len, gathered } = desc;
    const X = C.IXGBE_ADVTXD;
    if (!(cmd & X.DCMD_DEXT) || (cmd & X.DTYP_MASK) !== X.DTYP_DATA) {
      this.#violation(
        where,
        "7.2.3.2.4",
        `not an advanced data descriptor (DEXT=1, DTYP=0011b): word 2 = ${hex(cmd)}. ` +
          `Uninitialised descriptor? Check TDT.`,
      );
      return false;
    }
    // DCMD.IFCS (bit 25 of word 2) asks the MAC to append the Ethernet CRC
    // (7.2.3.2.4). Without it the frame leaves with no valid FCS and every
    // receiver drops it as a CRC error; no driver of this project computes
    // the CRC itself, so the model treats a missing IFCS as the bug it is.
    if (!(cmd & X.DCMD_IFCS)) {
      this.#violation(
        where,
        "7.2.3.2.4",
        `DCMD.IFCS is not set: the 82599 would append no Ethernet CRC and the peer would ` +
          `drop the frame as a CRC error. Set IFCS in every data descriptor.`,
      );
      return false;
    }
    if (len === 0) {
      this.#violation(where, "7.2.3.2.4", `data length (DTALEN) is 0.`);
      return false;
    }
    if (!this.#dma.locate(addr, len)) {
      this.#violation(
        where,
        "7.2.3.2.4",
        `buffer ${hex(addr)} + ${len} bytes is outside the DMA memory ` +
          `the driver owns.`,
      );
      return false;
    }
    if (gathered + len > MAX_FRAME) {
      this.#violation(where, "7.2.3.2.4", `frame longer than ${MAX_FRAME} bytes.`);
      return false;
    }
    return true;
  }

  /** The PAYLEN of the last descriptor of a frame at `where` (7.2.3.2.4). */
  txPayLen(where: string, paylen: number, length: number): void {
    if (paylen !== length) {
      this.#violation(
        where,
        "7.2.3.2.4",
        `PAYLEN ${paylen} differs from the frame length ${length} (without TSO, ` +
          `PAYLEN is the whole frame).`,
      );
    }
  }

  /**
   * The receive buffer of descriptor `head` of queue `q` as the driver
   * described it: `bsize` bytes (SRRCTL.BSIZEPACKET, 8.2.3.8.7) at `addr`
   * (7.1.6.1). The device may write all of them, so they must be memory the
   * driver owns and, in a mempool, lie inside one buffer's data area (else a
   * long frame overwrites the next buffer's header). False if not.
   */
  rxBufferSize(head: number, q: number, addr: number, bsize: number): boolean {
    let why: string;
    if (!this.#dma.locate(addr, bsize)) {
      why = `runs outside the DMA memory the driver owns`;
    } else {
      const left = this.#dma.dataAreaLeft();
      if (left >= bsize) return true;
      why = left < 0
        ? `does not start in a packet buffer's data area`
        : `is larger than the ${left} bytes left in its packet buffer's data area: a long ` +
          `frame would overwrite the next buffer's header`;
    }
    this.#violation(
      `RX descriptor ${head} of queue ${q}`,
      "8.2.3.8.7",
      `receive buffer ${hex(addr)} of SRRCTL.BSIZEPACKET ${bsize} bytes ${why}. ` +
        `Set BSIZEPACKET to the buffer's data size, rounded down to 1 KB.`,
    );
    return false;
  }

  /**
   * The packet buffer of receive descriptor `head` of queue `q`, `chunk`
   * bytes at `addr` (7.1.6.1); false if it is outside the DMA memory (the
   * frame is dropped). When true, the DMA space has located it.
   */
  rxBuffer(head: number, q: number, addr: number, chunk: number): boolean {
    if (this.#dma.locate(addr, chunk)) return true;
    this.#violation(
      `RX descriptor ${head} of queue ${q}`,
      "7.1.6.1",
      `packet buffer ${hex(addr)} + ${chunk} bytes is outside the DMA memory the driver ` +
        `owns; frame dropped.`,
    );
    return false;
  }

  /**
   * Receive queue `q` is being disabled (RXDCTL.ENABLE cleared) while RSS is
   * on and a redirection-table entry still names it. 4.6.7.1 ("Dynamic
   * Enabling and Disabling of Receive Queues") orders the steps: first stop
   * directing packets to the queue (here: rewrite RETA), then clear
   * RXDCTL.ENABLE; packets directed to a disabled queue are dropped.
   */
  queueDisabledUnderRss(q: number): void {
    this.#violation(
      `RXDCTL(${q})`,
      "4.6.7.1",
      `queue disabled while RSS (MRQC.MRQE = 0001b) still directs frames to it through ` +
        `RETA: rewrite the redirection table without queue ${q} first, then clear ENABLE.`,
    );
  }

  /**
   * A write of `value` to MRQC (8.2.3.7.12) selecting what this model does
   * not implement: an MRQE mode other than 0000b (no RSS) and 0001b (RSS
   * only), i.e. DCB or virtualisation, or hash types other than IPv4,
   * TcpIPv4 and UdpIPv4 (the IPv6 ones). Not a datasheet rule: a test
   * relying on them would pass against a model that ignores them.
   */
  mrqcNotModelled(value: number, what: string): void {
    this.#violation(
      "MRQC",
      "8.2.3.7.12",
      `write of ${hex(value >>> 0)} enables ${what}, which the software 82599 does not ` +
        `model (it models MRQE 0000b and 0001b, hash types IPv4, TcpIPv4, UdpIPv4).`,
    );
  }
}

/**
 * The per-queue ring registers of a software 82599 port: RDBAL, RDBAH,
 * RDLEN, RDH, RDT, RXDCTL for receive queues (8.2.3.8) and TDBAL ... TXDCTL
 * for transmit queues (8.2.3.9) — where they are, what a write does, and
 * how a ring is validated and cached when its queue is enabled (4.6.7 /
 * 4.6.8). Receive and transmit queues follow the same rules with their own
 * registers and sections (violations.ts), so one function serves both.
 *
 * @module
 */

import * as C from "../../drivers/ixgbe/constants.ts";
import { TWO_TO_32 } from "./registers.ts";
import type { Direction, Violations } from "./violations.ts";

/** A descriptor ring as the device caches it when the queue is enabled. */
export interface Ring {
  enabled: boolean;
  slab: number;
  /** Word index of descriptor 0 in the slab. */
  word: number;
  /** Descriptors. */
  size: number;
}

/** Offsets of the ring registers within a queue's 0x40 block. */
export const REG = { BAL: 0x00, BAH: 0x04, LEN: 0x08, H: 0x10, T: 0x18, DCTL: 0x28 } as const;

/** Queue number and register (offset within the 0x40 block) of a per-queue RX register, or -1. */
export function rxQueueReg(off: number): number {
  if (off >= 0x01000 && off < 0x02000) return ((off - 0x01000) >> 6) * 256 + (off & 0x3f);
  if (off >= 0x0d000 && off < 0x0e000) return (64 + ((off - 0x0d000) >> 6)) * 256 + (off & 0x3f);
  return -1;
}

/** Same for TX registers (queues 0-127 at 0x06000). */
export function txQueueReg(off: number): number {
  if (off >= 0x06000 && off < 0x08000) return ((off - 0x06000) >> 6) * 256 + (off & 0x3f);
  return -1;
}

/** What a queue register write works on: the port's registers, the queue's ring, the checks. */
export interface QueuePort {
  regs: Uint32Array;
  check: Violations;
  /** Where {@link Violations.ring} locates an enabled ring. */
  dma: { slab: number; offset: number };
}

/**
 * A write of `value` to register `reg` of queue `q`'s block, with its checks.
 * Returns true when the write enabled the queue: `ring` now caches its ring.
 */
export function writeQueueRegister(
  port: QueuePort,
  queue: { dir: Direction; q: number; ring: Ring },
  write: { reg: number; value: number },
): boolean {
  const { dir, q, ring } = queue;
  const { reg, value } = write;
  const r = port.regs;
  const base = dir === "RX" ? C.IXGBE_RDBAL(q) : C.IXGBE_TDBAL(q);
  const enable = dir === "RX" ? C.IXGBE_RXDCTL_ENABLE : C.IXGBE_TXDCTL_ENABLE;
  const idx = (base + reg) >> 2;
  switch (reg) {
    case REG.BAL:
    case REG.BAH:
    case REG.LEN:
      if (ring.enabled) {
        const name = reg === REG.BAL ? "BAL" : reg === REG.BAH ? "BAH" : "LEN";
        port.check.ringChangedWhileEnabled(dir, name, q);
      }
      r[idx] = value;
      return false;
    case REG.T: {
      const len = r[(base + REG.LEN) >> 2];
      const head = r[(base + REG.H) >> 2];
      if (port.check.tail(dir, q, value, { len, head, enabled: ring.enabled })) r[idx] = value;
      return false;
    }
    case REG.DCTL: {
      const was = (r[idx] & enable) !== 0;
      let v = value;
      let enabled = false;
      if ((value & enable) && !was) {
        enabled = enableRing(port, { dir, q, ring }, base);
        if (!enabled) v &= ~enable;
      } else if (!(value & enable)) {
        ring.enabled = false;
      }
      r[idx] = v >>> 0;
      return enabled;
    }
    default:
      r[idx] = value;
      return false;
  }
}

/** Validates and caches a ring when its queue is enabled (4.6.7 / 4.6.8). */
function enableRing(
  port: QueuePort,
  queue: { dir: Direction; q: number; ring: Ring },
  base: number,
): boolean {
  const r = port.regs;
  const bal = r[(base + REG.BAL) >> 2];
  const bah = r[(base + REG.BAH) >> 2];
  const len = r[(base + REG.LEN) >> 2];
  if (!port.check.ring(queue.dir, queue.q, bal + bah * TWO_TO_32, len)) return false;
  const ring = queue.ring;
  ring.slab = port.dma.slab;
  ring.word = port.dma.offset / 4;
  ring.size = len / 16;
  ring.enabled = true;
  return true;
}

/**
 * What `deno task selftest` (tools/selftest.ts) needs of an 8254x besides
 * bring-up: PHY registers over MDIC, PHY loopback, and the EEPROM checksum.
 * Nothing here runs on the packet path; each function is a few register
 * accesses with the SDM section that defines them ("8254x SDM": the
 * PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual, rev. 4.0).
 *
 * PHY loopback is the test that sends nothing out of the port: with bit 14
 * of the PHY's control register set, the PHY hands every frame the MAC
 * transmits straight back to the MAC's receive side. QEMU's model does the
 * same (hw/net/e1000.c: a frame sent while the PHY's BMCR loopback bit is
 * set goes to the card's own receive path instead of the network).
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import { type RegisterSpace, waitForFlags32 } from "../../src/mmio.ts";
import {
  E1000_CTRL,
  E1000_CTRL_BITS,
  E1000_EEPROM_CHECKSUM_WORDS,
  E1000_EEPROM_SUM,
  E1000_EERD,
  E1000_EERD_BITS,
  E1000_MDIC,
  E1000_MDIC_BITS,
  E1000_PHY_ADDRESS,
  E1000_PHY_CTRL,
  E1000_PHY_CTRL_LOOPBACK,
} from "./constants.ts";

/** PCTRL bit 6 (with bit 13 clear): speed 1000 Mbit/s when auto-negotiation is off (IEEE 802.3 22.2.4.1). */
const PHY_CTRL_SPEED_1000 = 1 << 6;
/** PCTRL bit 8: full duplex when auto-negotiation is off. */
const PHY_CTRL_FULL_DUPLEX = 1 << 8;

/**
 * One MDI transaction (13.4.7): write the opcode, register and PHY address
 * (and data) to MDIC, wait for READY, fail on ERROR. Returns MDIC's data.
 */
function mdic(regs: RegisterSpace, phyReg: number, op: number, data: number, what: string): number {
  const B = E1000_MDIC_BITS;
  regs.write32(
    E1000_MDIC,
    (op | (E1000_PHY_ADDRESS << B.PHYADD_SHIFT) | (phyReg << B.REGADD_SHIFT) |
      (data & B.DATA_MASK)) >>> 0,
  );
  waitForFlags32(regs, E1000_MDIC, B.READY, true, { what: `${what} (MDIC.READY)` });
  const value = regs.read32(E1000_MDIC);
  if ((value & B.ERROR) !== 0) {
    throw new IxyError(
      `${what} failed: MDIC reported an error (no PHY at address ${E1000_PHY_ADDRESS}, or no ` +
        `register ${phyReg}). Is this an 82540EM/82545EM with its internal PHY?`,
    );
  }
  return value & B.DATA_MASK;
}

/** Reads PHY register `phyReg` of the internal PHY through MDIC (13.4.7, opcode 10b). */
export function readPhy(regs: RegisterSpace, phyReg: number): number {
  return mdic(regs, phyReg, E1000_MDIC_BITS.OP_READ, 0, `PHY register ${phyReg} read`);
}

/** Writes `value` to PHY register `phyReg` through MDIC (13.4.7, opcode 01b). */
export function writePhy(regs: RegisterSpace, phyReg: number, value: number): void {
  mdic(regs, phyReg, E1000_MDIC_BITS.OP_WRITE, value, `PHY register ${phyReg} write`);
}

/** What {@link enablePhyLoopback} changed, for {@link disablePhyLoopback} to put back. */
export interface LoopbackState {
  /** PCTRL before. */
  readonly phyCtrl: number;
  /** CTRL before. */
  readonly ctrl: number;
}

/**
 * Turns PHY loopback on: PCTRL (PHY register 0) = loopback, 1000 Mbit/s,
 * full duplex, auto-negotiation off (the PHY loops back at a fixed speed),
 * and the MAC forced to the same (CTRL.FRCSPD / FRCDPX, SPEED = 1000, FD;
 * 13.4.1) since no negotiation will tell it. Returns what was there before.
 * Linux's e1000 ethtool loopback test programs the PHY the same way.
 */
export function enablePhyLoopback(regs: RegisterSpace): LoopbackState {
  const before = { phyCtrl: readPhy(regs, E1000_PHY_CTRL), ctrl: regs.read32(E1000_CTRL) };
  const C = E1000_CTRL_BITS;
  regs.write32(
    E1000_CTRL,
    ((before.ctrl & ~(C.ASDE | C.SPEED_MASK)) | C.FRCSPD | C.FRCDPX | C.SPEED_1000 | C.FD) >>> 0,
  );
  writePhy(
    regs,
    E1000_PHY_CTRL,
    E1000_PHY_CTRL_LOOPBACK | PHY_CTRL_SPEED_1000 | PHY_CTRL_FULL_DUPLEX,
  );
  return before;
}

/** Puts PCTRL and CTRL back as {@link enablePhyLoopback} found them: loopback off. */
export function disablePhyLoopback(regs: RegisterSpace, before: LoopbackState): void {
  writePhy(regs, E1000_PHY_CTRL, before.phyCtrl & ~E1000_PHY_CTRL_LOOPBACK);
  regs.write32(E1000_CTRL, before.ctrl);
}

/** True while the PHY's loopback bit (PCTRL bit 14) is set. */
export function phyLoopbackOn(regs: RegisterSpace): boolean {
  return (readPhy(regs, E1000_PHY_CTRL) & E1000_PHY_CTRL_LOOPBACK) !== 0;
}

/** Reads EEPROM word `addr` through EERD (13.4.4): START with the address, wait for DONE. */
export function readEepromWord(regs: RegisterSpace, addr: number): number {
  regs.write32(E1000_EERD, E1000_EERD_BITS.START | (addr << E1000_EERD_BITS.ADDR_SHIFT));
  waitForFlags32(regs, E1000_EERD, E1000_EERD_BITS.DONE, true, {
    what: `EEPROM read of word ${addr} (EERD.DONE)`,
  });
  return regs.read32(E1000_EERD) >>> E1000_EERD_BITS.DATA_SHIFT;
}

/** The EEPROM words the checksum covers, 0x00..0x3F (5.6). */
export function readEepromChecksumWords(regs: RegisterSpace): number[] {
  return Array.from({ length: E1000_EEPROM_CHECKSUM_WORDS }, (_, i) => readEepromWord(regs, i));
}

/**
 * The 8254x EEPROM rule (5.6, word 3Fh "Checksum"): words 0x00..0x3F add up
 * to 0xBABA modulo 2^16; the vendor picks word 0x3F to make it so. Returns
 * the sum and whether it holds.
 */
export function eepromChecksum(words: readonly number[]): { sum: number; ok: boolean } {
  if (words.length !== E1000_EEPROM_CHECKSUM_WORDS) {
    throw new IxyError(
      `The EEPROM checksum covers ${E1000_EEPROM_CHECKSUM_WORDS} words, got ${words.length}.`,
    );
  }
  let sum = 0;
  for (const w of words) sum = (sum + w) & 0xffff;
  return { sum, ok: sum === E1000_EEPROM_SUM };
}
